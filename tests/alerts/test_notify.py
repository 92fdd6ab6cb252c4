"""What notifications say and who hears them (issue #20 §2, §3): one notification per rule and pass
listing its targets, with their readings, since when and links; an e-mail with a subject and text and
HTML parts; open alerts sent to a channel added later; a target no longer observed closes as such;
a recovery reaches every channel that heard the alert, mute or not; a mute ending on a firing alert
is told once. Real receivers (aiosmtpd, an HTTP server); time moved with time_machine."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.delivery import notifications_deliver
from opsportal.alerts.models import Alert, Channel, Mute, Notification
from opsportal.alerts.services import alerts_evaluate, channel_saved, mute_delete
from opsportal.audit.services import Actor
from plannings.models import Planning, PlanningBackup, PlanningRefreshState
from tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = "https://ops.example.org"


@pytest.fixture
def feeds(only_rules, settings, webhook):
    """The feeds rule alone (grace two passes and 60 s, no reminders), a webhook channel, the base URL."""
    settings.OPSPORTAL_BASE_URL = BASE
    (rule,) = only_rules("feeds", grace_evaluations=2, grace_seconds=60, reminder_seconds=0)
    Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    return rule


def _hosts_failing(*schools: str, failing: int = 10) -> None:
    """Hosts of 20 feeds each, every feed backed up; ``failing`` of each failing (the catalog too, then)."""
    for school in schools:
        for index, planning in enumerate(factories.plannings_make(20, school=school)):
            factories.backup_make(planning)
            if index < failing:
                factories.state_make(planning, last_failure_kind="http_5xx", consecutive_failures=1,
                                     last_attempt_at=timezone.now())  # fmt: skip


def _pass(clock, seconds: int = 60):
    clock.shift(seconds)
    PlanningBackup.objects.update(updated_at=timezone.now())  # backups keep being written
    return alerts_evaluate()


def _fire(clock, *schools: str) -> None:
    _hosts_failing(*schools)
    alerts_evaluate()
    assert _pass(clock).fired == len(schools) + 1  # the hosts and the catalog


def test_targets_of_one_rule_firing_in_one_pass_go_out_as_one_notification_listing_each(feeds, webhook, admin_client):
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut", "enscr")
        alerts = Alert.objects.filter(state="alerting")
        assert sorted(alerts.values_list("target", flat=True)) == ["catalog", "host enscr", "host iut"]
        (fired,) = Notification.objects.all()
        assert fired.title == "[ALERT] Feeds: 3 targets"
        assert set(fired.alerts.all()) == set(alerts)
        # Each line: the reading with its threshold, since when, and the target's page under the base URL.
        assert "host iut: 10 of 20 feeds failing (50%) > 25%" in fired.body
        assert "since 2026-03-02 09:00:00 UTC (1 min ago)" in fired.body
        assert f"{BASE}/admin/plannings/planning/?q=iut" in fired.body
        iut = alerts.get(target="host iut")
        assert f"{BASE}/admin/alerts/alert/{alerts.get(target='catalog').pk}/change/" in fired.body
        assert f'<a href="{BASE}/admin/plannings/planning/?q=iut">' in fired.body_html
        # Each alert's page lists the group's notification, not only the first alert's.
        page = admin_client.get(f"/admin/alerts/alert/{iut.pk}/change/").content.decode()
        assert "[ALERT] Feeds: 3 targets" in page

        assert notifications_deliver() == {"sent": 1, "retrying": 0, "failed": 0}
        (posted,) = webhook.bodies
        body = posted["json"]
        assert (body["version"], body["kind"], body["count"]) == (1, "fired", 3)
        assert body["alert"]["target"] == "catalog"  # version 1's field: the group's first alert
        by_target = {item["target"]: item for item in body["alerts"]}
        assert by_target["host iut"]["id"] == iut.pk
        assert by_target["host iut"]["message"] == "host iut: 10 of 20 feeds failing (50%) > 25%"
        assert by_target["host iut"]["started_at"] == "2026-03-02T09:00:00Z"
        assert by_target["host iut"]["url"] == f"{BASE}/admin/plannings/planning/?q=iut"


def test_an_email_has_a_subject_and_a_plain_text_and_an_html_part_with_the_links(feeds, smtp_server):
    Channel.objects.create(name="mail", url=smtp_server.url(), kinds="fired")
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut")
    assert notifications_deliver()["sent"] == 2
    (envelope,) = smtp_server.messages
    mail = message_from_bytes(envelope.original_content)
    assert mail["Subject"] == "[ALERT] Feeds: 2 targets"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert mail.get_content_type() == "multipart/alternative"
    assert f'href="{BASE}/admin/plannings/planning/?q=iut"' in parts["text/html"]
    assert "host iut: 10 of 20 feeds failing (50%) > 25%" in parts["text/plain"]
    assert "since 2026-03-02 09:00:00 UTC" in parts["text/plain"]


def test_a_channel_added_while_alerts_fire_is_sent_them_in_one_message(feeds):
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut")
        late = Channel.objects.create(name="late", kind="webhook", url="http://127.0.0.1:9/late")
        assert channel_saved(channel=late, was_enabled=None) == 1
        (sent,) = late.notifications.all()
        assert (sent.kind, sent.status) == ("fired", "pending")
        assert sent.title == "[ALERT] Feeds: 2 targets (already open)"
        assert sent.payload["reason"] == "already_open" and sent.alerts.count() == 2
        quiet = Channel.objects.create(name="quiet", kind="webhook", url="http://127.0.0.1:9/q", send_open_alerts=False)
        assert channel_saved(channel=quiet, was_enabled=None) == 0 and not quiet.notifications.exists()


def test_a_channel_added_in_the_admin_is_sent_the_open_alerts(feeds, admin_client):
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut")
        response = admin_client.post(
            "/admin/alerts/channel/add/",
            {"name": "late", "kind": "webhook", "url": "http://127.0.0.1:9/late", "kinds": "fired,resolved",
             "enabled": "on", "send_open_alerts": "on"},
        )  # fmt: skip
        assert response.status_code == 302
        assert Channel.objects.get(name="late").notifications.get().title.endswith("(already open)")


def test_a_target_no_longer_observed_closes_as_such_and_no_channel_is_told_it_recovered(feeds):
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut")
        Planning.objects.filter(planning_id="iut").delete()  # the host is gone from the catalog
        _pass(clock)
        assert _pass(clock).resolved == 1
        gone = Alert.objects.get(target="host iut")
        assert (gone.state, gone.is_open, gone.resolved_at) == ("gone", False, timezone.now())
        (closed,) = Notification.objects.filter(alerts=gone).exclude(kind="fired")
        assert (closed.kind, closed.status) == ("resolved", "pending")
        assert closed.title == "[CLOSED] Feeds: host iut (no longer observed)"
        assert closed.body.startswith("No longer observed (closed, not recovered). It was: host iut: 10 of 20")
        assert "Recovered" not in closed.body and closed.payload["resolution"] == "no_longer_observed"


def test_a_muted_alerts_recovery_reaches_the_channel_that_heard_its_alert(feeds):
    with time_machine.travel(START, tick=False) as clock:
        _fire(clock, "iut")
        alert = Alert.objects.get(target="host iut")
        Mute.objects.create(rule=feeds, target="", until=timezone.now() + timedelta(hours=4), reason="on it")
        # Added after the [ALERT], told nothing of it: its recovery stays muted for it.
        Channel.objects.create(name="later", kind="webhook", url="http://127.0.0.1:9/l", send_open_alerts=False)
        PlanningRefreshState.objects.update(last_failure_kind=None, consecutive_failures=0)
        _pass(clock)
        _pass(clock)
        alert.refresh_from_db()
        assert alert.state == "resolved"
        recoveries = dict(Notification.objects.filter(kind="resolved").values_list("channel__name", "status"))
        assert recoveries == {"hook": "pending", "later": "muted"}
        assert Notification.objects.get(kind="resolved", channel__name="hook").title == "[RESOLVED] Feeds: 2 targets"


def test_a_mute_ending_on_a_firing_alert_sends_its_state_once(feeds):
    with time_machine.travel(START, tick=False) as clock:
        _hosts_failing("iut")
        Mute.objects.create(rule=feeds, target="", until=timezone.now() + timedelta(minutes=5), reason="work")
        alerts_evaluate()
        _pass(clock)
        assert set(Notification.objects.values_list("status", flat=True)) == {"muted"}
        for _ in range(5):
            _pass(clock)
        told = Notification.objects.exclude(status="muted")
        assert list(told.values_list("title", flat=True)) == ["[ALERT] Feeds: 2 targets (mute ended)"]
        assert told.get().payload["reason"] == "mute_ended"


def test_a_mute_removed_while_its_alert_fires_sends_its_state_once(feeds):
    with time_machine.travel(START, tick=False) as clock:
        _hosts_failing("iut")
        mute = Mute.objects.create(rule=feeds, target="", until=timezone.now() + timedelta(hours=4), reason="work")
        alerts_evaluate()
        _pass(clock)
        assert mute_delete(actor=Actor.cli("ops"), mute=mute) == 1
        _pass(clock)
        told = Notification.objects.exclude(status="muted")
        assert list(told.values_list("title", flat=True)) == ["[ALERT] Feeds: 2 targets (mute ended)"]
