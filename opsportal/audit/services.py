"""Writes to the audit trail. Every operator action calls ``audit_record`` once it knows its outcome.

Apps import this module (it sits below them, with ``opsportal.lib``); it imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from opsportal.audit.models import TARGETS_KEPT, AuditEvent

Via = AuditEvent.Via
Outcome = AuditEvent.Outcome
# A refused action is recorded, but a user or token refused again and again must not grow the trail
# without bound: past this many refusals of one action by one actor within a minute, no further row.
REFUSALS_KEPT_PER_MINUTE = 20


@dataclass(frozen=True)
class Actor:
    """Who acts and through what: a portal user, an API token (with its owner), or the command line.

    ``user`` (the portal user, or the token's owner; None for a machine token and the command line)
    and ``scopes`` (a token's; None outside the API) let a service decide with ``refusal`` whether
    this actor may do what it asks, so the pages and the API only translate the answer.
    """

    name: str
    via: str
    token_name: str = ""
    user: object = field(default=None, compare=False, repr=False)
    scopes: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def portal(cls, user) -> Actor:
        return cls(name=user.get_username(), via=Via.PORTAL, user=user)

    @classmethod
    def api(cls, *, owner_name: str, token_name: str, owner=None, scopes: Iterable[str] | None = None) -> Actor:
        return cls(
            name=owner_name,
            via=Via.API,
            token_name=token_name,
            user=owner,
            scopes=None if scopes is None else tuple(scopes),
        )

    def refusal(self, *, permission: str, scope: str) -> str:
        """Why this actor may not do what needs ``permission`` (a token: ``scope`` too); empty when it may.

        A token never does more than its owner: it needs the scope and its owner the permission (a
        machine token, with no owner, does what its scopes say). The command line may do anything.
        """
        if self.via == Via.API:
            if scope not in (self.scopes or ()):
                return f"this token lacks the '{scope}' scope"
            if self.user is not None and not self.user.has_perm(permission):
                return f"this token's owner {self.name} lacks {permission}"
            return ""
        if self.via == Via.CLI:
            return ""
        if self.user is None or not self.user.has_perm(permission):
            return f"you lack the permission {permission}"
        return ""

    @classmethod
    def cli(cls, name: str = "") -> Actor:
        # The command line has no login: the OS user running manage.py, when the caller passes it.
        return cls(name=name or "command line", via=Via.CLI)


def audit_record(
    *,
    actor: Actor,
    action: str,
    outcome: str = Outcome.OK,
    target_type: str = "",
    targets: Iterable[str] = (),
    changed: int | None = None,
    detail: str = "",
    now=None,
) -> AuditEvent:
    """Add one row to the trail. Call it inside the action's transaction when it has one, so an
    action and its record commit (or roll back) together."""
    ids = [str(target) for target in targets]
    return AuditEvent.objects.create(
        created_at=now or timezone.now(),
        actor=actor.name[:150],
        via=actor.via,
        token_name=actor.token_name[:100],
        action=action[:64],
        target_type=target_type[:32],
        targets=ids[:TARGETS_KEPT],
        target_count=len(ids),
        changed=changed,
        outcome=outcome,
        detail=detail,
    )


def audit_refusal_record(
    *, actor: Actor, action: str, target_type: str = "", targets: Iterable[str] = (), detail: str = "", now=None
) -> AuditEvent | None:
    """Record a refused action, unless this actor was refused this action too often this minute (then ``None``)."""
    now = now or timezone.now()
    recent = AuditEvent.objects.filter(
        actor=actor.name[:150],
        token_name=actor.token_name[:100],
        action=action[:64],
        outcome=Outcome.REFUSED,
        created_at__gte=now - timedelta(minutes=1),
    )
    if recent.count() >= REFUSALS_KEPT_PER_MINUTE:
        return None
    return audit_record(
        actor=actor,
        action=action,
        outcome=Outcome.REFUSED,
        target_type=target_type,
        targets=targets,
        detail=detail,
        now=now,
    )
