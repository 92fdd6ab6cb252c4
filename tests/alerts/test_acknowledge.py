"""Acknowledging an open alert from its page: reminders stop while it stands, a resolve ends it, it can be
taken back, every attempt (allowed or refused) is audited, and the badge, the list and the API show it."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.models import Alert, Notification
from opsportal.alerts.services import alerts_evaluate
from opsportal.audit.models import AuditEvent
from tests.alerts.helpers import fire_one

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fire(health, clock) -> Alert:
    return fire_one(health, clock)


def _reminders() -> int:
    return Notification.objects.filter(kind="reminder").count()


def test_an_acknowledged_alert_gets_no_reminders_until_the_acknowledgement_is_taken_back(
    client, member, plannings_health
):
    operator = member(client, "Operator")
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        response = client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "on it, restarting jobs"})
        assert response.status_code == HTTPStatus.FOUND
        alert.refresh_from_db()
        assert (alert.acknowledged_by, alert.acknowledged_at, alert.ack_comment) == (
            operator.username,
            timezone.now(),
            "on it, restarting jobs",
        )
        for _ in range(3):  # half an hour, three reminder intervals: none while acknowledged
            clock.shift(600)
            assert alerts_evaluate().reminders == 0
        assert _reminders() == 0
        assert client.post(f"/admin/alerts/alert/{alert.pk}/unacknowledge/").status_code == HTTPStatus.FOUND
        alert.refresh_from_db()
        assert alert.acknowledged_at is None and alert.acknowledged_by == ""
        clock.shift(60)
        assert alerts_evaluate().reminders == 1  # taken back: the reminders resume
    events = list(AuditEvent.objects.filter(action__startswith="alerts.").order_by("id"))
    assert [(e.action, e.outcome, e.actor, e.via) for e in events] == [
        ("alerts.acknowledge", "ok", operator.username, "portal"),
        ("alerts.unacknowledge", "ok", operator.username, "portal"),
    ]
    assert events[0].targets == ["Plannings health:plannings"] and "on it, restarting jobs" in events[0].detail
    assert f"was acknowledged by {operator.username}" in events[1].detail


def test_a_viewer_is_refused_acknowledging_with_a_403_and_the_refusal_is_audited(client, member, plannings_health):
    viewer = member(client, "Viewer")
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
    page = client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert "/acknowledge/" not in page  # no button for who may not
    response = client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "me"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    event = AuditEvent.objects.get(action="alerts.acknowledge")
    assert (event.outcome, event.actor) == ("refused", viewer.username)
    assert "lacks alerts.acknowledge_alert" in event.detail


def test_acknowledging_takes_a_post_with_a_csrf_token(admin_user, plannings_health):
    from django.test import Client

    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    url = f"/admin/alerts/alert/{alert.pk}/acknowledge/"
    assert strict.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert strict.post(url).status_code == HTTPStatus.FORBIDDEN  # no CSRF token
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_a_resolve_ends_the_acknowledgement_and_the_next_episode_starts_unacknowledged(admin_client, plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "known"})
        for _ in range(2):
            clock.shift(60)
            plannings_health.good()
            result = alerts_evaluate()
        assert result.resolved == 1
        alert.refresh_from_db()
        assert (alert.state, alert.acknowledged_at, alert.acknowledged_by, alert.ack_comment) == (
            "resolved",
            None,
            "",
            "",
        )
        # The resolve went out: an acknowledgement silences reminders, not the news that it is over.
        assert Notification.objects.filter(kind="resolved").count() == 1
        clock.shift(60)
        plannings_health.bad()
        alerts_evaluate()
        assert Alert.objects.get(is_open=True).acknowledged_at is None
    # A closed alert cannot be acknowledged: refused with a message, and audited as refused.
    response = admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", follow=True)
    assert "Not acknowledged: it is closed" in response.content.decode()
    outcomes = list(
        AuditEvent.objects.filter(action="alerts.acknowledge").order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["ok", "refused"]


def test_the_badge_the_list_and_the_page_show_an_acknowledged_alert(admin_client, admin_user, plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        assert "(1 acknowledged)" not in admin_client.get("/admin/ops/").content.decode()
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "looking"})
        badge = admin_client.get("/admin/ops/").content.decode()
        assert '1 alerting</strong>, 0 pending <span class="ops-acknowledged">(1 acknowledged)</span>' in badge
        listed = admin_client.get("/admin/alerts/alert/").content.decode()
        assert f"acknowledged by {admin_user.username}" in listed and "looking" in listed
        page = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
        assert "Take the acknowledgement back" in page and "/unacknowledge/" in page
        change = f"/admin/alerts/alert/{alert.pk}/change/"
        assert change in admin_client.get("/admin/alerts/alert/?acknowledged_at__isempty=0").content.decode()
        assert change not in admin_client.get("/admin/alerts/alert/?acknowledged_at__isempty=1").content.decode()


def test_the_api_shows_who_acknowledged_an_alert_when_and_why(
    admin_client, admin_user, plannings_health, api_client, token_for
):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "on it"})
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    (item,) = api_client.get("/api/v1/admin/ops/alerts").json()["results"]
    assert item["acknowledged"] == {"by": admin_user.username, "at": "2026-03-02T09:01:00Z", "comment": "on it"}
    Alert.objects.update(acknowledged_at=None, acknowledged_by="", ack_comment="")
    assert api_client.get("/api/v1/admin/ops/alerts").json()["results"][0]["acknowledged"] is None


def test_acknowledging_twice_is_refused_and_keeps_the_first(client, member, admin_client, plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "first"})
        clock.shift(timedelta(minutes=1))
    member(client, "Operator")
    response = client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "second"}, follow=True)
    assert "Not acknowledged: it is acknowledged already" in response.content.decode()
    alert.refresh_from_db()
    assert alert.ack_comment == "first"
