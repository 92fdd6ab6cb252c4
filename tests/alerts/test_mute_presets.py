"""Muting faster: one-click presets on an alert's page (1 h, 4 h, 24 h, until resolved), and the Mutes form
filled in with a default ``until`` (OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS) and its own presets."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.models import SECONDS_MAX, Alert, Mute, Notification
from opsportal.alerts.services import alerts_evaluate
from opsportal.audit.models import AuditEvent
from tests.alerts.helpers import fire_one

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fire(health, clock) -> Alert:
    return fire_one(health, clock)


@pytest.mark.parametrize(("preset", "hours"), [("1h", 1), ("4h", 4), ("24h", 24)])
def test_a_preset_from_the_alerts_page_mutes_its_rule_for_its_target_for_that_long(
    client, member, plannings_health, preset, hours
):
    operator = member(client, "Operator")
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        page = client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
        assert f'action="/admin/alerts/alert/{alert.pk}/mute/"' in page and f'value="{preset}"' in page
        response = client.post(f"/admin/alerts/alert/{alert.pk}/mute/", {"preset": preset})
        assert response.status_code == HTTPStatus.FOUND
        mute = Mute.objects.get()
        assert (mute.rule, mute.target, mute.until, mute.alert) == (
            plannings_health.rule,
            "plannings",
            timezone.now() + timedelta(hours=hours),
            None,
        )
        clock.shift(600)  # a reminder is due: recorded as muted, not sent
        alerts_evaluate()
        assert Notification.objects.get(kind="reminder").status == "muted"
    event = AuditEvent.objects.get(action="alerts.mute")
    assert (event.actor, event.outcome, event.targets) == (operator.username, "ok", ["Plannings health:plannings"])
    assert f"muted {hours} h from alert #{alert.pk}" in event.detail


def test_until_resolved_mutes_the_alert_and_lifts_when_it_resolves(admin_client, plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/mute/", {"preset": "resolved"})
        mute = Mute.objects.get()
        assert mute.alert == alert and mute.until == timezone.now() + timedelta(seconds=SECONDS_MAX)
        assert "until resolved" in AuditEvent.objects.get(action="alerts.mute").detail
        clock.shift(600)
        alerts_evaluate()
        assert Notification.objects.get(kind="reminder").status == "muted"
        for _ in range(2):
            clock.shift(60)
            plannings_health.good()
            alerts_evaluate()
        alert.refresh_from_db()
        assert alert.state == "resolved"
        mute.refresh_from_db()
        assert mute.until == alert.resolved_at == timezone.now()  # lifted by the resolve
        # The next episode is not muted: its "fired" goes out.
        plannings_health.bad()
        alerts_evaluate()
        clock.shift(60)
        alerts_evaluate()
        fired = Notification.objects.filter(kind="fired").order_by("created_at")
        assert list(fired.values_list("status", flat=True)) == ["pending", "pending"]


def test_until_resolved_is_not_offered_for_a_closed_alert_and_refused_if_posted(admin_client, plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
    Alert.objects.filter(pk=alert.pk).update(state="resolved", is_open=False)
    page = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert 'value="1h"' in page and 'value="resolved"' not in page
    response = admin_client.post(f"/admin/alerts/alert/{alert.pk}/mute/", {"preset": "resolved"}, follow=True)
    assert "nothing to mute until it resolves" in response.content.decode()
    assert not Mute.objects.exists()
    assert AuditEvent.objects.get(action="alerts.mute").outcome == "refused"


def test_a_viewer_is_refused_a_preset_mute_with_a_403_and_the_refusal_is_audited(client, member, plannings_health):
    viewer = member(client, "Viewer")
    with time_machine.travel(START, tick=False) as clock:
        alert = _fire(plannings_health, clock)
    assert (
        f"/admin/alerts/alert/{alert.pk}/mute/"
        not in client.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    )
    assert client.post(f"/admin/alerts/alert/{alert.pk}/mute/", {"preset": "1h"}).status_code == HTTPStatus.FORBIDDEN
    assert client.get(f"/admin/alerts/alert/{alert.pk}/mute/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert not Mute.objects.exists()
    event = AuditEvent.objects.get(action="alerts.mute")
    assert (event.outcome, event.actor) == ("refused", viewer.username)


def test_the_mute_form_comes_with_until_filled_in_from_the_default_hours(admin_client, settings):
    settings.OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS = 6
    with time_machine.travel(START, tick=False):
        page = admin_client.get("/admin/alerts/mute/add/").content.decode()
    assert 'name="until_0" value="2026-03-02"' in page and 'name="until_1" value="15:00:00"' in page
    assert 'name="duration" value="1h"' in page and 'name="duration" value="24h"' in page


def test_a_duration_chosen_in_the_mute_form_sets_until_without_typing_it(admin_client):
    with time_machine.travel(START, tick=False):
        response = admin_client.post(
            "/admin/alerts/mute/add/",
            {"target": "web-*", "duration": "24h", "until_0": "", "until_1": "", "reason": "x"},
        )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:3000]
    assert Mute.objects.get().until == START + timedelta(hours=24)


def test_the_mute_form_without_a_duration_or_an_until_says_what_is_missing(admin_client):
    response = admin_client.post(
        "/admin/alerts/mute/add/", {"target": "web-*", "duration": "", "until_0": "", "until_1": "", "reason": "x"}
    )
    assert "Required, or choose a duration." in response.content.decode() and not Mute.objects.exists()


def test_the_default_hours_are_read_from_the_environment():
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS)"
    )
    env = {
        **os.environ,
        "OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS": "0",
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
    }
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (
        refused.returncode != 0 and "OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS=0 is below the minimum of 1" in refused.stderr
    )
    env["OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS"] = "12"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "12"
