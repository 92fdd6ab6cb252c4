"""Changes on the record, with a before/after of the fields that changed and the secrets masked: alert rules,
channels, mutes, acknowledgements and maintenance windows; users, their flags, groups, memberships and
permissions; logins, logouts, failed logins and lockouts. Through the admin and through the services alike."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, MaintenanceWindow, Rule
from opsportal.alerts.services import alert_acknowledge, alert_unacknowledge, mute_create
from opsportal.audit.changes import MASKED
from opsportal.audit.context import acting
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor

pytestmark = pytest.mark.django_db
SECRET = "s3cr3t-passw0rd"


def _rows(prefix: str = "") -> list[tuple]:
    rows = AuditEvent.objects.filter(action__startswith=prefix).order_by("id")
    return list(rows.values_list("action", "actor", "outcome", "changes"))


def _form(obj, **changed) -> dict:
    data = {k: ("" if v is None else v) for k, v in model_to_dict(obj).items()}
    return {**data, **changed}


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", password="pw")
    client.force_login(user)
    return client


def test_a_rule_changed_in_the_admin_is_recorded_with_what_changed(root):
    rule = Rule.objects.create(name="queues", kind="queue", grace_seconds=60)
    data = _form(rule, grace_seconds=120, thresholds="{}")
    response = root.post(f"/admin/alerts/rule/{rule.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    assert _rows("alerts.rule") == [("alerts.rule.change", "root", "ok", {"grace_seconds": [60, 120]})]
    event = AuditEvent.objects.get(action="alerts.rule.change")
    assert (event.via, event.target_type, event.targets) == ("portal", "alert_rule", ["queues"])


def test_a_channel_is_recorded_with_its_url_masked(root):
    url = f"mailtos://ops:{SECRET}@mail.example.com"
    form = {"name": "mail", "kind": "apprise", "url": url, "kinds": "fired,resolved", "enabled": "on"}
    response = root.post("/admin/alerts/channel/add/", form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    channel = Channel.objects.get()
    with acting(lambda: Actor.cli("ops")):
        channel.enabled = False
        channel.save()
        channel.url = url.replace(SECRET, "another-secret")
        channel.save()
    rows = _rows("alerts.channel")
    assert [row[:3] for row in rows] == [
        ("alerts.channel.create", "root", "ok"), ("alerts.channel.change", "ops", "ok"),
        ("alerts.channel.change", "ops", "ok"),
    ]  # fmt: skip
    assert rows[1][3] == {"enabled": [True, False]}
    assert rows[2][3] == {"url": [MASKED, f"{MASKED}, changed"]}
    assert rows[0][3]["url"][0] is None and "mail.example.com" in rows[0][3]["url"][1]
    assert SECRET not in str(AuditEvent.objects.values_list("changes", "detail"))


def test_a_mute_an_acknowledgement_and_a_window_are_one_row_each_with_their_changes(client):
    rule = Rule.objects.create(name="queues", kind="queue")
    alert = Alert.objects.create(rule=rule, target="q1", state="alerting")
    actor = Actor.cli("ops")
    with acting(lambda: actor):
        until = timezone.now() + timedelta(hours=1)
        mute_create(actor=actor, rule=rule, target="q1", until=until, reason="deploy")
        alert_acknowledge(actor=actor, alert=alert, comment="on it")
        alert_unacknowledge(actor=actor, alert=alert)
    rows = _rows("alerts.")
    assert [row[0] for row in rows] == ["alerts.mute", "alerts.acknowledge", "alerts.unacknowledge"]
    assert rows[0][3]["reason"] == [None, "deploy"] and rows[0][3]["rule"] == [None, "queues"]
    assert rows[1][3]["ack_comment"] == ["", "on it"] and rows[1][3]["acknowledged_by"] == ["", "ops"]
    assert rows[2][3]["ack_comment"] == ["on it", ""]


def test_a_maintenance_window_changed_in_the_admin_is_one_row_with_its_changes(root):
    window = MaintenanceWindow.objects.create(name="db", reason="upgrade", recurrence="weekly", weekdays="0",
                                              start_time="02:00", duration_minutes=30, created_by="ana")  # fmt: skip
    data = _form(window, duration_minutes=90, rule="")
    data = {key: value for key, value in data.items() if key not in ("id", "created_by", "created_at")}
    response = root.post(f"/admin/alerts/maintenancewindow/{window.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    assert _rows("alerts.") == [("alerts.maintenance_change", "root", "ok", {"duration_minutes": [30, 90]})]


def test_a_users_flags_groups_and_permissions_are_recorded(root):
    ana = User.objects.create_user("ana", password="pw")
    operator = Group.objects.get(name="Operator")
    data = {"username": "ana", "is_active": "on", "is_staff": "on", "groups": [operator.pk],
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}  # fmt: skip
    response = root.post(f"/admin/auth/user/{ana.pk}/change/", data)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    rows = _rows("auth.")
    assert rows == [
        ("auth.user.change", "root", "ok", {"is_staff": [False, True]}),
        ("auth.user.groups", "root", "ok", {"groups": [[], ["Operator"]]}),
    ]
    ana.refresh_from_db()
    with acting(lambda: Actor.cli("root")):
        ana.set_password(SECRET)
        ana.save()
        operator.permissions.remove(Permission.objects.get(codename="restart_container"))
        operator.user_set.remove(ana)
    rows = _rows("auth.")[2:]
    assert rows[0] == ("auth.user.change", "root", "ok", {"password": [MASKED, f"{MASKED}, changed"]})
    assert rows[1][0] == "auth.group.permissions"
    before, after = rows[1][3]["permissions"]
    assert set(before) - set(after) == {"walletops.restart_container"}
    assert rows[2] == ("auth.user.groups", "root", "ok", {"groups": [["Operator"], []]})
    assert SECRET not in str(AuditEvent.objects.values_list("changes", flat=True))


def test_changes_outside_a_request_or_a_command_are_not_recorded():
    User.objects.create_user("fixture")
    Rule.objects.create(name="queues", kind="queue")
    assert not AuditEvent.objects.exists()


def test_logins_logouts_failures_and_lockouts_are_recorded(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_user("ana", password=SECRET, is_staff=True)
    assert client.post("/admin/login/", {"username": "ana", "password": SECRET}).status_code == HTTPStatus.FOUND
    assert client.post("/admin/logout/").status_code == HTTPStatus.OK
    for _ in range(2):
        client.post("/admin/login/", {"username": "ana", "password": "wrong"})
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "outcome", "targets"))
    assert rows[:2] == [("auth.login", "ana", "ok", ["ana"]), ("auth.logout", "ana", "ok", ["ana"])]
    assert sorted(rows[2:]) == [  # the second failure locks out (axes says so before the failure is recorded)
        ("auth.lockout", "ana", "refused", ["ana"]),
        ("auth.login", "ana", "refused", ["ana"]), ("auth.login", "ana", "refused", ["ana"]),
    ]  # fmt: skip
    assert "wrong credentials from 127.0.0.1" in AuditEvent.objects.filter(outcome="refused").first().detail


def _locked_out(client, username: str) -> None:
    for _ in range(2):
        client.post("/admin/login/", {"username": username, "password": "wrong"})
    assert AccessAttempt.objects.filter(username=username).exists()


def test_an_unlock_is_recorded_from_the_admin_and_from_the_command_line(root, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_user("ana", password=SECRET, is_staff=True)
    _locked_out(Client(), "ana")
    attempt = AccessAttempt.objects.get(username="ana")
    response = root.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND and not AccessAttempt.objects.exists()
    _locked_out(Client(), "ana")
    with acting(lambda: Actor.cli("ops")):  # what manage.py opens for every command (command_line_acting)
        call_command("axes_reset", verbosity=0)
    unlocks = AuditEvent.objects.filter(action="auth.unlock").order_by("id")
    assert [(row.actor, row.via, row.targets, row.outcome) for row in unlocks] == [
        ("root", "portal", ["ana"], "ok"), ("ops", "cli", ["ana"], "ok")]  # fmt: skip
    assert unlocks[0].detail == "2 failed logins from 127.0.0.1 cleared"


def test_attempts_past_their_cool_off_go_unrecorded(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_user("ana", password=SECRET, is_staff=True)
    _locked_out(client, "ana")
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)):
        assert client.post("/admin/login/", {"username": "ana", "password": SECRET}).status_code == HTTPStatus.FOUND
    assert not AccessAttempt.objects.exists()  # axes' own clean-up at the login
    assert not AuditEvent.objects.filter(action="auth.unlock").exists()


def test_the_audit_page_shows_a_changes_fields_and_its_row_page_their_before_and_after(root):
    rule = Rule.objects.create(name="queues", kind="queue", grace_seconds=60)
    with acting(lambda: Actor.cli("ops")):
        rule.grace_seconds, rule.enabled = 120, False
        rule.save()
    event = AuditEvent.objects.get()
    listing = root.get("/admin/audit/auditevent/").content.decode()
    assert "changed enabled, grace_seconds" in listing
    page = root.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert '<tr><th>grace_seconds</th><td class="before">60</td><td class="after">120</td></tr>' in page
    assert '<tr><th>enabled</th><td class="before">True</td><td class="after">False</td></tr>' in page
    assert event.row_hash in page
