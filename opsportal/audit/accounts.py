"""Accounts on the record: users (their names, staff, active and superuser flags, password changed or not),
groups, a user's groups and permissions, a group's permissions; logins, logouts, failed logins, lockouts and
unlocks (a lockout's access attempts deleted by an operator: the admin, or ``manage.py axes_reset``).

Connected once, by the audit app's ``ready()``. Who acts is the request's user (or the command line's);
outside a request or a command nothing is recorded (``context.py``).
"""

from __future__ import annotations

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import post_delete
from django.utils import timezone

from opsportal.audit.changes import audit_track, audit_track_m2m, masked_always
from opsportal.audit.context import acting_now, is_open

USER_FIELDS = ("username", "first_name", "last_name", "email", "is_staff", "is_active", "is_superuser", "password")


def _permission(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def accounts_track() -> None:
    User = get_user_model()
    audit_track(User, action="auth.user", target_type="user", fields=USER_FIELDS,
                masks={"password": masked_always}, name=lambda user: user.get_username())  # fmt: skip
    audit_track(Group, action="auth.group", target_type="group", fields=("name",), name=lambda group: group.name)
    audit_track_m2m(User.groups.through, action="auth.user.groups", target_type="user", field_name="groups",
                    label=lambda group: group.name)  # fmt: skip
    audit_track_m2m(User.user_permissions.through, action="auth.user.permissions", target_type="user",
                    field_name="user_permissions", label=_permission)  # fmt: skip
    audit_track_m2m(Group.permissions.through, action="auth.group.permissions", target_type="group",
                    field_name="permissions", label=_permission)  # fmt: skip
    user_logged_in.connect(_logged_in, dispatch_uid="audit:login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit:logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit:login_failed")
    user_locked_out.connect(_locked_out, dispatch_uid="audit:lockout")
    post_delete.connect(_attempt_deleted, sender=AccessAttempt, dispatch_uid="audit:unlock")


def _address(request) -> str:
    # The address axes counted the failure against (behind the trusted proxies: opsportal/login_throttle.py).
    if request is None:
        return ""
    return (
        f"from {getattr(request, 'axes_ip_address', None) or request.META.get('REMOTE_ADDR') or 'an unknown address'}"
    )


def _logged_in(sender, request, user, **kwargs):
    from opsportal.audit.services import Actor, audit_record

    if is_open():
        audit_record(actor=Actor.portal(user), action="auth.login", target_type="user",
                     targets=[user.get_username()], detail=_address(request))  # fmt: skip


def _logged_out(sender, request, user, **kwargs):
    from opsportal.audit.services import Actor, audit_record

    if is_open() and user is not None:
        audit_record(actor=Actor.portal(user), action="auth.logout", target_type="user",
                     targets=[user.get_username()], detail=_address(request))  # fmt: skip


def _anonymous(username: str):
    from opsportal.audit.services import Actor

    return acting_now() or Actor(name=(username or "(no user name)")[:150], via="portal")


def _login_failed(sender, credentials, request=None, **kwargs):
    from opsportal.audit.services import audit_refusal_record

    if is_open():
        username = str(credentials.get("username") or "")
        # Capped per user name a minute, like every refusal: a password guesser cannot grow the trail unbounded.
        audit_refusal_record(actor=_anonymous(username), action="auth.login", target_type="user",
                             targets=[username], detail=f"wrong credentials {_address(request)}")  # fmt: skip


def _locked_out(sender, request, username, ip_address, **kwargs):
    from opsportal.audit.services import audit_refusal_record

    if is_open():
        audit_refusal_record(
            actor=_anonymous(username),
            action="auth.lockout",
            target_type="user",
            targets=[username or ""],
            detail=f"locked out after too many failures from {ip_address}",
        )


def _attempt_deleted(sender, instance: AccessAttempt, **kwargs):
    """An operator clearing failed logins (a lockout lifted before its cool-off) is a change on the record.
    Attempts past their cool-off held nothing: axes deletes those itself at each login, unrecorded."""
    from opsportal.audit.services import audit_record

    actor = acting_now()
    cool_off = get_cool_off()
    if actor is None or (cool_off is not None and instance.attempt_time <= timezone.now() - cool_off):
        return
    audit_record(
        actor=actor,
        action="auth.unlock",
        target_type="user",
        targets=[instance.username or ""],
        changed=1,
        detail=f"{instance.failures_since_start} failed logins from {instance.ip_address or 'an unknown address'} "
        "cleared",
    )
