"""Notifications reach a real SMTP server (aiosmtpd) and a real webhook receiver (http.server);
a failing channel is retried with backoff, shows its error and never holds up the others."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.delivery import (
    CLAIM_SECONDS,
    backoff,
    channel_test,
    channel_url_problem,
    channel_url_shown,
    notifications_deliver,
    url_masked,
)
from opsportal.alerts.models import Alert, Channel, Notification, Rule
from opsportal.alerts.services import notifications_queue
from opsportal.alerts.tasks import alerts_evaluate_task
from plannings.models import JobRuntime
from scripts.servers.postgres import free_port

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
    # Version 1's fields, unchanged; the fields added since are only added.
    assert set(body) == {"version", "kind", "title", "message", "alert"} | {
        "alerts", "count", "url", "reason", "resolution"
    }  # fmt: skip
    assert body["message"] == alert.message
    assert (body["version"], body["kind"], body["title"]) == (
        1,
        "fired",
        "[ALERT] Containers: wallet-core-production-web-1",
    )
    link = "http://127.0.0.1:8000/admin/ops/containers/wallet-core-production-web-1/"
    assert body["alert"].pop("url") == link
    assert body["alert"].pop("alert_url") == f"http://127.0.0.1:8000/admin/alerts/alert/{alert.pk}/change/"
    assert (body["count"], body["url"], body["reason"], body["resolution"]) == (1, link, None, None)
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


@pytest.mark.postgres_only
# No serialized_rollback: it needs no migrated rows, and reloading them after another transactional
# test's flush (whose post_migrate recreates the content types under new ids) was an IntegrityError.
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_the_same_due_notifications_send_each_exactly_once(webhook):
    """Both workers read the same due rows, then both try to claim them: a row lock held by the test
    makes both wait at their first claim, so they race for real once it is released."""
    import threading
    import time

    from django.db import connection, connections, transaction

    hook = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    due = timezone.now() - timedelta(seconds=1)
    for n in range(3):
        Notification.objects.create(
            channel=hook, kind="fired", title=f"t{n}", body="b", payload={"title": f"t{n}"}, next_attempt_at=due
        )
    results: list[dict] = []

    def worker():
        try:
            results.append(notifications_deliver())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    with transaction.atomic():
        list(Notification.objects.select_for_update())  # held until both workers wait on it
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60  # threads starting on a loaded machine: seconds, not milliseconds
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else this transaction sees its first reading
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0] == 2:
                    break
                assert time.monotonic() < deadline, "the two workers never both reached their claim"
                time.sleep(0.01)  # waiting for the other threads, not for time to pass
    for thread in threads:
        thread.join(60)
    assert sum(result["sent"] for result in results) == 3 and len(results) == 2
    assert sorted(body["json"]["title"] for body in webhook.bodies) == ["t0", "t1", "t2"]
    assert set(Notification.objects.values_list("status", "attempts")) == {("sent", 1)}


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
    assert shown.startswith("https://user:****@hooks.example.com/")
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


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("ntfys://alice:pa55word@ntfy.example.com/topicSECRET", ["pa55word", "topicSECRET"]),
        ("ntfy://ntfy.example.com/opsx1", ["opsx1"]),  # a short topic is still a secret
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts", ["T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazk"]),
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567", ["123456789", "AAHdqTcv", "100123"]),
        ("json://hooks.example.com/?token=abcdef&user=ops", ["abcdef"]),
        ("pover://u4Jd8sKx0PqLz7@a8Bf2jQ9sLk3mZ1", ["u4Jd8sKx0PqLz7", "a8Bf2jQ9sLk3mZ1"]),
    ],
)
def test_every_kind_of_secret_in_an_apprise_url_is_masked_when_shown(url, secrets):
    shown = channel_url_shown(Channel(kind="apprise", url=url))
    assert shown.split("://")[0] == url.split("://")[0]
    assert not [secret for secret in secrets if secret in shown], shown


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x", "http://127.0.0.1:abc/x", "json://[::1/x"])
def test_masking_an_unparsable_url_never_raises(url):
    assert "99999" not in url_masked(url) and "abc" not in url_masked(url)


@pytest.mark.parametrize(
    ("bad_url", "reason"),
    [
        ("http://127.0.0.1:99999/hook", "Port out of range"),  # url_masked raised on it
        ("http://127.0.0.1:abc/hook", "Port could not be cast"),  # httpx.InvalidURL is no httpx.HTTPError
    ],
)
def test_a_channel_with_a_broken_url_fails_alone_and_the_others_are_sent_exactly_once(webhook, bad_url, reason):
    good = Channel.objects.create(name="good", kind="webhook", url=webhook.url)
    bad = Channel.objects.create(name="bad", kind="webhook", url=bad_url)  # stored before the form checked ports
    with time_machine.travel(START, tick=False) as clock:
        _fired([bad, good])
        assert notifications_deliver() == {"sent": 1, "retrying": 0, "failed": 1}
        clock.shift(CLAIM_SECONDS + 1)  # past the claim: a row left claimed would be sent again now
        assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 0}
    assert len(webhook.bodies) == 1
    assert Notification.objects.get(channel=good).status == "sent"
    failed = Notification.objects.get(channel=bad)
    assert (
        failed.status == "failed"
        and failed.last_error.startswith("unusable channel URL")
        and reason in failed.last_error
    )
    assert channel_test(channel=bad).status == "failed"  # and the test button answers instead of raising


def test_a_webhook_url_with_a_bad_port_or_an_invalid_url_is_refused_by_the_form_check():
    assert "Port out of range" in channel_url_problem(kind="webhook", url="http://h.example.com:99999/")
    assert "Port could not be cast" in channel_url_problem(kind="webhook", url="http://h.example.com:x1/")
    assert channel_url_problem(kind="webhook", url="http://h.example.com:8080/") is None


def test_an_apprise_failure_keeps_the_reason_apprise_logged():
    closed = free_port()
    json_channel = Channel.objects.create(name="json", url=f"json://127.0.0.1:{closed}/in")
    _fired([json_channel])
    assert notifications_deliver() == {"sent": 0, "retrying": 1, "failed": 0}
    row = Notification.objects.get()
    assert "Connection error occurred sending JSON notification" in row.last_error, row.last_error
    test = channel_test(channel=json_channel)
    assert test.status == "failed" and "Connection error" in test.last_error


def test_a_disabled_channel_gets_no_retries_its_due_notifications_fail_saying_why(webhook):
    hook = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    with time_machine.travel(START, tick=False):
        _fired([hook])
        hook.enabled = False
        hook.save()
        assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 1}
    row = Notification.objects.get()
    assert (row.status, row.last_error, row.next_attempt_at) == ("failed", "channel disabled", None)
    assert webhook.bodies == []
