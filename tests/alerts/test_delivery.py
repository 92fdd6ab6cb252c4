"""Notifications reach a real SMTP server (aiosmtpd) and a real webhook receiver (http.server);
a failing channel is retried with backoff, shows its error and never holds up the others."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.delivery import backoff, channel_test, channel_url_shown, notifications_deliver, url_masked
from opsportal.alerts.models import Alert, Channel, Notification, Rule
from opsportal.alerts.services import notifications_queue
from opsportal.alerts.tasks import alerts_evaluate_task
from plannings.models import JobRuntime

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fired(channels) -> Alert:
    rule = Rule.objects.get(kind="container")
    alert = Alert.objects.create(
        rule=rule,
        target="wallet-core-production-web-1",
        state="alerting",
        started_at=timezone.now(),
        fired_at=timezone.now(),
        message="wallet-core-production-web-1 (production, web, on h): Docker health unhealthy",
    )
    notifications_queue(alert=alert, kind="fired", now=timezone.now(), muted=False, channels=channels)
    return alert


def test_a_fired_alert_reaches_the_smtp_server_and_the_webhook_with_the_documented_body(smtp_server, webhook):
    mail = Channel.objects.create(name="mail", url=smtp_server.url())
    hook = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    alert = _fired([mail, hook])
    assert notifications_deliver() == {"sent": 2, "retrying": 0, "failed": 0}
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    assert b"[ALERT] Containers: wallet-core-production-web-1" in message.content
    (posted,) = webhook.bodies
    assert posted["path"] == "/hook/s3cr3t-token-value"
    body = posted["json"]
    assert set(body) == {"version", "kind", "title", "message", "alert"}
    assert (body["version"], body["kind"], body["title"]) == (
        1,
        "fired",
        "[ALERT] Containers: wallet-core-production-web-1",
    )
    assert body["alert"] == {
        "id": alert.pk,
        "rule": "Containers",
        "rule_kind": "container",
        "target": "wallet-core-production-web-1",
        "state": "alerting",
        "flapping": False,
        "message": alert.message,
        "started_at": alert.started_at.isoformat().replace("+00:00", "Z"),
        "fired_at": alert.fired_at.isoformat().replace("+00:00", "Z"),
        "resolved_at": None,
    }
    assert set(Notification.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_failing_channel_is_retried_with_backoff_and_never_blocks_the_others(webhook, unreachable_url):
    good = Channel.objects.create(name="good", kind="webhook", url=webhook.url)
    bad = Channel.objects.create(name="bad", kind="webhook", url=unreachable_url)
    with time_machine.travel(START, tick=False) as clock:
        _fired([bad, good])
        assert notifications_deliver() == {"sent": 1, "retrying": 1, "failed": 0}
        assert len(webhook.bodies) == 1
        failing = Notification.objects.get(channel=bad)
        assert failing.status == "pending" and failing.attempts == 1 and "ConnectError" in failing.last_error
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=30)
        clock.shift(29)
        assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 0}  # not due yet
        clock.shift(1)
        assert notifications_deliver()["retrying"] == 1
        failing.refresh_from_db()
        assert failing.attempts == 2 and failing.next_attempt_at == timezone.now() + timedelta(seconds=60)


def test_after_the_last_attempt_a_notification_is_failed_and_its_error_kept(settings, webhook):
    settings.OPSPORTAL_ALERTS_MAX_ATTEMPTS = 2
    webhook.status = 500
    hook = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    with time_machine.travel(START, tick=False) as clock:
        _fired([hook])
        notifications_deliver()
        clock.shift(30)
        assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 1}
    row = Notification.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert row.last_error.startswith("HTTP 500")
    assert len(webhook.bodies) == 2


def test_the_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]


def test_a_claimed_notification_is_not_sent_twice(webhook):
    hook = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    _fired([hook])
    row = Notification.objects.get()
    # Another worker claimed it (the guarded update moves next_attempt_at): this one finds nothing due.
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=10))
    assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 0}
    assert webhook.bodies == []


def test_send_test_reports_success_or_the_error_at_once(smtp_server, unreachable_url):
    ok = channel_test(channel=Channel.objects.create(name="mail", url=smtp_server.url("me@example.com")))
    assert (ok.kind, ok.status, ok.last_error) == ("test", "sent", "")
    assert smtp_server.messages[0].rcpt_tos == ["me@example.com"]
    failed = channel_test(channel=Channel.objects.create(name="dead", kind="webhook", url=unreachable_url))
    assert failed.status == "failed" and "ConnectError" in failed.last_error


def test_secrets_in_channel_urls_are_masked_when_shown():
    hook = Channel(
        kind="webhook",
        url="https://user:hunter22@hooks.example.com/services/T000/B0000/XXXXXXXXXXXXSECRET?token=abcdef",
    )
    shown = channel_url_shown(hook)
    assert "hunter22" not in shown and "XXXXXXXXXXXXSECRET" not in shown and "abcdef" not in shown
    assert shown.startswith("https://user:****@hooks.example.com/services/")
    ntfy = Channel(kind="apprise", url="ntfys://alice:pa55word-long@ntfy.example.com/ops-topic")
    assert "pa55word-long" not in channel_url_shown(ntfy) and "ntfy.example.com" in channel_url_shown(ntfy)
    assert url_masked("a-bare-secret-string") == "a…g"  # not a URL: masked whole, it may be a token


def test_the_beat_task_evaluates_then_delivers(only_rules, webhook):
    only_rules("plannings_health", grace_evaluations=1, grace_seconds=0)
    Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    JobRuntime.objects.all().delete()  # unhealthy: jobs not started
    assert alerts_evaluate_task.apply().get() == {
        "ran": True,
        "fired": 1,
        "resolved": 0,
        "sent": 1,
        "retrying": 0,
        "failed": 0,
    }
    assert webhook.bodies[0]["json"]["kind"] == "fired"
