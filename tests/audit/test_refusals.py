"""Refused attempts on every path, each with its row: POSTs a role may not make, sent with a valid CSRF token as
a browser would (the page's form, then a forged field), answer 403 and write a ``refused`` row."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, MaintenanceWindow, Mute, Rule
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor, audit_record
from plannings.models import PlanningRefreshQueue
from tests import factories

pytestmark = pytest.mark.django_db


class Browser:
    """A logged-in role member whose POSTs carry the CSRF token the page gave it (checks enforced)."""

    def __init__(self, role: str):
        self.client = Client(enforce_csrf_checks=True)
        self.user = User.objects.create_user(f"{role.lower()}-user", password="pw", is_staff=True)
        self.user.groups.add(Group.objects.get(name=role))
        self.client.force_login(self.user)

    def post(self, page: str, url: str, data: dict):
        self.client.get(page)  # sets the CSRF cookie, as the page a form is on does
        token = self.client.cookies["csrftoken"].value
        return self.client.post(url, {**data, "csrfmiddlewaretoken": token})


def _refused() -> list[tuple]:
    rows = AuditEvent.objects.filter(outcome="refused").order_by("id")
    return list(rows.values_list("action", "actor", "targets"))


def test_a_viewers_bulk_refresh_now_is_403_with_a_row_and_queues_nothing():
    planning = factories.planning_make()
    viewer = Browser("Viewer")
    page = "/admin/plannings/planning/"
    response = viewer.post(page, page, {"action": "refresh_now", "_selected_action": [planning.pk], "index": "0"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert _refused() == [("plannings.refresh_now", "viewer-user", [planning.pk])]
    assert not PlanningRefreshQueue.objects.exists()


def test_a_viewers_forged_mute_acknowledgement_window_and_edits_are_403_with_a_row_each():
    rule = Rule.objects.create(name="queues", kind="queue")
    alert = Alert.objects.create(rule=rule, target="q1", state="alerting")
    channel = Channel.objects.create(name="hook", kind="webhook", url="https://hooks.example.test/x")
    viewer = Browser("Viewer")
    until = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    attempts = [
        ("/admin/alerts/mute/add/", {"rule": rule.pk, "target": "q1", "until_0": until[:10], "until_1": until[11:],
                                     "reason": "forged"}),
        (f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "forged"}),
        (f"/admin/alerts/alert/{alert.pk}/mute/", {"preset": "1h"}),
        ("/admin/alerts/maintenancewindow/add/", {"name": "forged", "reason": "x", "recurrence": "once"}),
        (f"/admin/alerts/rule/{rule.pk}/change/", {"name": "queues", "kind": "queue", "enabled": ""}),
        (f"/admin/alerts/channel/{channel.pk}/change/", {"name": "hook", "kind": "webhook", "url": "https://x.test/"}),
        ("/admin/alerts/rule/", {"action": "delete_selected", "_selected_action": [rule.pk], "post": "yes"}),
        (f"/admin/alerts/channel/{channel.pk}/test/", {}),
    ]  # fmt: skip
    for url, data in attempts:
        assert viewer.post("/admin/alerts/alert/", url, data).status_code == HTTPStatus.FORBIDDEN, url
    assert [action for action, _actor, _targets in _refused()] == [
        "alerts.mute", "alerts.acknowledge", "alerts.mute", "alerts.maintenance_create", "alerts.rule.change",
        "alerts.channel.change", "alerts.rule.delete", "alerts.channel.test",
    ]  # fmt: skip
    assert not Mute.objects.exists() and not MaintenanceWindow.objects.exists()
    rule.refresh_from_db()
    alert.refresh_from_db()
    assert rule.enabled and alert.acknowledged_at is None and Channel.objects.get().url.startswith("https://hooks.")


def test_an_operators_forged_deletes_and_an_admins_forged_user_change_are_403_with_a_row():
    rule = Rule.objects.create(name="queues", kind="queue")
    planning = factories.planning_make()
    operator = Browser("Operator")
    assert operator.post(
        "/admin/alerts/rule/", f"/admin/alerts/rule/{rule.pk}/delete/", {"post": "yes"}
    ).status_code == (HTTPStatus.FORBIDDEN)
    page = "/admin/plannings/planning/"
    data = {"action": "delete_selected", "_selected_action": [planning.pk], "post": "yes"}
    assert operator.post(page, page, data).status_code == HTTPStatus.FORBIDDEN
    admin = Browser("Admin")
    target = User.objects.create_user("ana", password="pw")
    response = admin.post("/admin/auth/user/", f"/admin/auth/user/{target.pk}/change/",
                          {"username": "ana", "is_superuser": "on", "is_staff": "on"})  # fmt: skip
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert _refused() == [
        ("alerts.rule.delete", "operator-user", [str(rule.pk)]),
        ("plannings.planning.delete", "operator-user", [planning.pk]),
        ("auth.user.change", "admin-user", [str(target.pk)]),
    ]
    target.refresh_from_db()
    assert not target.is_superuser and Rule.objects.exists()


def test_nobody_deletes_audit_rows_and_trying_leaves_one_more():
    operator = Browser("Admin")
    row = audit_record(actor=Actor.cli("ops"), action="jobs.pause")
    page = "/admin/audit/auditevent/"
    response = operator.post(page, page, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert _refused() == [("audit.auditevent.delete", "admin-user", [str(row.pk)])]
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_a_viewers_jobs_pause_is_403_with_a_row():
    viewer = Browser("Viewer")
    assert viewer.post("/admin/ops/jobs/", "/admin/ops/jobs/pause/", {}).status_code == HTTPStatus.FORBIDDEN
    assert _refused() == [("jobs.pause", "viewer-user", [])]
    assert "lacks plannings.control_jobs" in AuditEvent.objects.get().detail
