"""No admin page deletes a row behind the audit trail's back: tokens are revoked, the ledgers are kept,
rules and channels are switched off, and a mute's removal is audited however it is asked for."""

from http import HTTPStatus

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, User
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, Mute, Notification, Rule
from opsportal.api import services
from opsportal.api.models import ApiToken
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor, audit_record
from plannings.models import JobRuntime, Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState
from tests import factories
from walletops.models import RestartAudit

pytestmark = pytest.mark.django_db


def _member(client, role: str):
    if role == "superuser":
        user = User.objects.create_superuser("root", password="pw")
    else:
        user = User.objects.create_user(f"{role.lower()}-user", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def _rows(owner: User) -> dict[str, object]:
    """One row of every model the admin lists, keyed by its change list's path; the token is ``owner``'s."""
    token = services.token_issue(actor=Actor.cli("ops"), name="ci", scopes=["read"], owner=owner).token
    restart = RestartAudit.objects.create(
        actor=owner.username, token=token, env="staging", container="c-1", outcome="refused"
    )
    event = audit_record(actor=Actor.cli("ops"), action="jobs.pause")
    planning = factories.planning_make()
    rule = Rule.objects.create(name="any container", kind="container")
    channel = Channel.objects.create(name="hook", kind="webhook", url="https://hooks.example.test/x")
    alert = Alert.objects.create(rule=rule, target="web-1", state="alerting")
    notification = Notification.objects.create(alert=alert, channel=channel, kind="fired", title="t", body="b")
    return {
        "opsapi/apitoken": token,
        "walletops/restartaudit": restart,
        "audit/auditevent": event,
        "plannings/planning": planning,
        "plannings/planningbackup": factories.backup_make(planning),
        "plannings/planningrefreshqueue": factories.queue_item_make(planning),
        "plannings/planningrefreshstate": factories.state_make(planning),
        "plannings/jobruntime": factories.runtime_make("plannings-backfill"),
        "alerts/rule": rule,
        "alerts/channel": channel,
        "alerts/alert": alert,
        "alerts/notification": notification,
    }


MODELS = [ApiToken, RestartAudit, Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState, JobRuntime]
MODELS += [Rule, Channel, Alert, Notification]


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.mark.parametrize("role", ["Operator", "Admin", "superuser"])
def test_no_change_list_deletes_its_rows_in_bulk_nor_one_by_one(client, role):
    rows = _rows(_member(client, role))
    before, events = _counts(), AuditEvent.objects.count()
    for page, row in rows.items():
        changelist = f"/admin/{page}/"
        # The confirmation's second step (post=yes) is what deletes; an action not offered is refused.
        answer = client.post(changelist, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [row.pk], "post": "yes"})
        assert answer.status_code in (HTTPStatus.OK, HTTPStatus.FOUND, HTTPStatus.FORBIDDEN), page
        if client.get(changelist).status_code == HTTPStatus.OK:
            assert b'value="delete_selected"' not in client.get(changelist).content, page
        assert client.post(f"{changelist}{row.pk}/delete/", {"post": "yes"}).status_code in (
            HTTPStatus.FORBIDDEN,
            HTTPStatus.FOUND,  # the row's page of a model one may not delete redirects to the admin's index
        ), page
    assert _counts() == before
    assert AuditEvent.objects.count() == events and AuditEvent.objects.filter(pk=rows["audit/auditevent"].pk).exists()
    token = ApiToken.objects.get()
    assert RestartAudit.objects.get().token_id == token.pk


@pytest.mark.parametrize("role", ["Operator", "Admin"])
def test_a_token_is_revoked_from_its_list_with_a_row_in_the_trail(client, role):
    token = _rows(_member(client, role))["opsapi/apitoken"]
    answer = client.post("/admin/opsapi/apitoken/", {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]})
    assert answer.status_code == HTTPStatus.FOUND
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", targets__icontains=token.prefix).exists()


def test_mutes_removed_in_bulk_each_leave_an_unmute_row(client):
    rule = Rule.objects.create(name="any container", kind="container")
    until = timezone.now() + timezone.timedelta(hours=1)
    mutes = [Mute.objects.create(rule=rule, target=f"web-{i}", until=until, reason="deploy") for i in range(2)]
    _member(client, "Operator")
    answer = client.post(
        "/admin/alerts/mute/", {"action": "delete_selected", ACTION_CHECKBOX_NAME: [m.pk for m in mutes], "post": "yes"}
    )
    assert answer.status_code == HTTPStatus.FOUND
    assert not Mute.objects.exists()
    assert AuditEvent.objects.filter(action="alerts.unmute").count() == 2
