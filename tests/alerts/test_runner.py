"""One evaluation pass over the database: the plannings health rule end to end, the evaluator lock,
a cost that does not follow the history, mutes, deploy notices. Time is moved with time_machine."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, EvaluatorState, Mute, Notification
from opsportal.alerts.services import alerts_evaluate, evaluator_claim, evaluator_release
from plannings.models import JobRuntime
from tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _healthy():
    """The plannings jobs report now (their last loop is the clock's): healthy."""
    if not JobRuntime.objects.exists():
        factories.both_jobs_running()
    JobRuntime.objects.update(last_loop_at=timezone.now())


def _unhealthy():
    JobRuntime.objects.all().delete()  # "Jobs not started"


@pytest.fixture
def health_rule(only_rules):
    (rule,) = only_rules("plannings_health", grace_evaluations=2, grace_seconds=60, reminder_seconds=600)
    Channel.objects.create(name="ops hook", kind="webhook", url="http://127.0.0.1:9/hook")
    return rule


def test_unhealthy_plannings_fire_after_the_grace_and_recover_with_one_message_each(health_rule):
    with time_machine.travel(START, tick=False) as clock:
        _unhealthy()
        assert alerts_evaluate().opened == 1
        alert = Alert.objects.get()
        assert alert.state == "pending" and not Notification.objects.exists()
        clock.shift(60)
        assert alerts_evaluate().fired == 1
        alert.refresh_from_db()
        assert alert.state == "alerting" and "Jobs not started" in alert.message
        fired = Notification.objects.get()
        assert (fired.kind, fired.status, fired.title) == ("fired", "pending", "[ALERT] Plannings health: plannings")
        assert fired.payload["alert"]["state"] == "alerting" and "unhealthy" in fired.payload["message"]
        for _ in range(2):
            clock.shift(60)
            _healthy()
            result = alerts_evaluate()
        assert result.resolved == 1
        alert.refresh_from_db()
        assert (alert.state, alert.is_open, alert.resolved_at) == ("resolved", False, timezone.now())
        assert list(Notification.objects.order_by("created_at").values_list("kind", flat=True)) == ["fired", "resolved"]


def test_a_degraded_status_does_not_fire_a_rule_whose_threshold_is_unhealthy(health_rule):
    health_rule.thresholds = {"status": "unhealthy"}
    health_rule.save()
    with time_machine.travel(START, tick=False) as clock:
        _healthy()
        factories.jobs_paused()  # "Jobs paused": degraded
        for _ in range(3):
            alerts_evaluate()
            clock.shift(60)
            JobRuntime.objects.update(last_loop_at=timezone.now())
        assert not Alert.objects.exists()
        health_rule.thresholds = {}
        health_rule.save()
        alerts_evaluate()
        assert Alert.objects.get().message.startswith("plannings health is degraded: Jobs paused")


def test_a_muted_alert_is_evaluated_and_its_notifications_recorded_as_muted_not_sent(health_rule):
    with time_machine.travel(START, tick=False) as clock:
        Mute.objects.create(rule=health_rule, until=START + timedelta(minutes=30), reason="maintenance")
        _unhealthy()
        alerts_evaluate()
        clock.shift(60)
        assert alerts_evaluate().fired == 1
        assert list(Notification.objects.values_list("status", "next_attempt_at")) == [("muted", None)]
        # Past the mute, the reminder goes out.
        clock.shift(timedelta(minutes=30))
        alerts_evaluate()
        assert Notification.objects.filter(kind="reminder", status="pending").count() == 1


def test_a_mute_of_another_target_leaves_this_one_alone(health_rule):
    with time_machine.travel(START, tick=False) as clock:
        Mute.objects.create(target="not-plannings", until=START + timedelta(hours=1), reason="x")
        _unhealthy()
        alerts_evaluate()
        clock.shift(60)
        alerts_evaluate()
        assert Notification.objects.get().status == "pending"


def test_only_one_evaluator_runs_at_a_time_and_a_dead_ones_lock_expires(health_rule, settings):
    with time_machine.travel(START, tick=False) as clock:
        token = evaluator_claim(now=timezone.now())
        assert token is not None
        assert alerts_evaluate().ran is False  # another worker holds it
        assert evaluator_claim(now=timezone.now()) is None
        clock.shift(settings.CELERY_TASK_TIME_LIMIT)  # the holder died without releasing
        assert alerts_evaluate().ran is True
        evaluator_release(token=token)  # the dead one's token no longer owns it: nothing happens
        assert EvaluatorState.objects.get().locked_until is None  # released by the pass that ran


def test_a_pass_reads_only_open_alerts_whatever_the_history(health_rule):
    with time_machine.travel(START, tick=False):
        _unhealthy()
        alerts_evaluate()

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                alerts_evaluate()
            return len(captured)

        before = queries()
        Alert.objects.bulk_create(
            Alert(rule=health_rule, target=f"old-{i}", state="resolved", is_open=False) for i in range(2000)
        )
        assert queries() == before
        with CaptureQueriesContext(connection) as captured:
            alerts_evaluate()
        reads = [q["sql"] for q in captured if 'FROM "alerts_alert"' in q["sql"]]
        assert reads and all('"is_open"' in sql for sql in reads)


def test_a_deploy_sends_one_notice_with_the_tags_and_who(only_rules, settings, tmp_path):
    only_rules("deploy")
    Channel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    path = tmp_path / "deploy_info.json"
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    info = {
        "current_tag": "v1",
        "previous_tag": None,
        "commit_sha": "abc",
        "deployed_by": "ana",
        "deployed_at": "2026-03-02T08:00:00Z",
    }
    path.write_text(json.dumps(info))
    with time_machine.travel(START, tick=False) as clock:
        alerts_evaluate()  # the first pass remembers what is deployed: no notice
        assert not Notification.objects.exists()
        clock.shift(60)
        path.write_text(
            json.dumps({**info, "current_tag": "v2", "previous_tag": "v1", "deployed_at": "2026-03-02T09:00:30Z"})
        )
        alerts_evaluate()
        notice = Notification.objects.get()
        assert notice.kind == "deploy" and notice.title == "[DEPLOY] v2"
        assert notice.body.startswith("Deployed v2 (previous v1, commit abc) by ana")
        clock.shift(60)
        alerts_evaluate()
        assert Notification.objects.count() == 1  # the same deploy is told once


def test_a_source_that_fails_leaves_the_other_rules_running(only_rules, settings):
    only_rules("plannings_health", "host", grace_evaluations=1, grace_seconds=0)
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = "http://127.0.0.1:9"  # nothing there: Prometheus down
    with time_machine.travel(START, tick=False):
        _unhealthy()
        result = alerts_evaluate()
    targets = set(Alert.objects.values_list("target", flat=True))
    assert targets == {"plannings", "prometheus"} and result.fired == 2
    assert "Prometheus is unreachable" in Alert.objects.get(target="prometheus").message


def test_a_queue_deeper_than_its_threshold_and_not_falling_fires_naming_the_depth(only_rules):
    thresholds = {"depth": 2, "not_falling_seconds": 60, "failures_last_hour": 10}
    only_rules("queue", grace_evaluations=1, grace_seconds=0, thresholds=thresholds)
    for planning in factories.plannings_make(3):
        factories.queue_item_make(planning)
    with time_machine.travel(START, tick=False) as clock:
        alerts_evaluate()
        assert not Alert.objects.exists()  # deep, but not yet seen not falling for a minute
        clock.shift(60)
        alerts_evaluate()
    (alert,) = Alert.objects.filter(state="alerting")
    assert alert.target == "plannings_refresh"
    assert alert.message == "queue plannings_refresh: depth 3 > 2, not falling for 60 s"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_of_many_workers_claiming_at_once_exactly_one_wins():
    import threading

    from django.db import connections

    now, tokens, barrier = timezone.now(), [], threading.Barrier(8)
    evaluator_claim(now=now - timedelta(days=1))  # the row exists; its lock has long expired

    def claim():
        barrier.wait()
        try:
            tokens.append(evaluator_claim(now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([token for token in tokens if token]) == 1
    assert EvaluatorState.objects.get().owner in tokens


def test_disabling_a_rule_closes_its_open_alerts_quietly(health_rule):
    with time_machine.travel(START, tick=False) as clock:
        _unhealthy()
        alerts_evaluate()
        clock.shift(60)
        alerts_evaluate()
        assert Alert.objects.get().state == "alerting"
        health_rule.enabled = False
        health_rule.save()
        clock.shift(60)
        alerts_evaluate()
    alert = Alert.objects.get()
    assert (alert.state, alert.is_open) == ("resolved", False) and alert.message.endswith(
        "(closed: its rule was disabled)"
    )
    assert list(Notification.objects.values_list("kind", flat=True)) == [
        "fired"
    ]  # no recovery message: nothing recovered


def test_a_deploy_is_in_progress_while_the_lock_file_exists_or_within_the_window_of_a_change(settings, tmp_path):
    from opsportal.alerts.observe import deploy_observe

    lock, path = tmp_path / "deploy.lock", tmp_path / "deploy_info.json"
    settings.OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH, settings.WALLETOPS_DEPLOY_INFO_PATH = str(lock), path
    settings.OPSPORTAL_ALERTS_DEPLOY_WINDOW_SECONDS = 600
    info = {
        "current_tag": "v1",
        "previous_tag": None,
        "commit_sha": "",
        "deployed_by": "ana",
        "deployed_at": "2026-03-01T00:00:00Z",
    }
    path.write_text(json.dumps(info))
    memory: dict = {}
    with time_machine.travel(START, tick=False) as clock:
        assert deploy_observe(now=timezone.now(), memory=memory).in_progress is False  # deployed yesterday
        lock.write_text("")
        assert deploy_observe(now=timezone.now(), memory=memory).in_progress is True
        lock.unlink()
        # Kamal recorded a time in the past (a clock behind): the change itself, when seen, opens the window.
        path.write_text(json.dumps({**info, "current_tag": "v2", "deployed_at": "2026-03-01T12:00:00Z"}))
        seen = deploy_observe(now=timezone.now(), memory=memory)
        assert seen.in_progress is True and seen.changed["current_tag"] == "v2"
        clock.shift(599)
        assert deploy_observe(now=timezone.now(), memory=memory).in_progress is True
        clock.shift(1)
        assert deploy_observe(now=timezone.now(), memory=memory).in_progress is False


@pytest.mark.parametrize(("mute_ends_after", "status"), [(61, "muted"), (60, "pending")])
def test_a_mute_covers_its_alert_until_the_second_it_ends(health_rule, mute_ends_after, status):
    with time_machine.travel(START, tick=False) as clock:
        Mute.objects.create(target="plannings", until=START + timedelta(seconds=mute_ends_after), reason="x")
        _unhealthy()
        alerts_evaluate()
        clock.shift(60)  # fires now, at START + 60 s
        alerts_evaluate()
    assert Notification.objects.get().status == status


def test_a_deploy_that_cannot_be_observed_leaves_the_other_rules_running(only_rules, settings, tmp_path):
    only_rules("plannings_health", "deploy", grace_evaluations=1, grace_seconds=0)
    settings.OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH = str(tmp_path / ("x" * 300))  # OSError: File name too long
    with time_machine.travel(START, tick=False):
        _unhealthy()
        result = alerts_evaluate()
    assert result.ran and result.fired == 1 and Alert.objects.get().target == "plannings"
    assert any(error.startswith("deploy: OSError") for error in result.errors)


def test_a_deploy_tag_longer_than_a_target_is_cut_to_fit(only_rules, settings, tmp_path):
    only_rules("deploy")
    Channel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    path = tmp_path / "deploy_info.json"
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    info = {"current_tag": "v1", "previous_tag": None, "commit_sha": "", "deployed_by": "ana"}
    path.write_text(json.dumps({**info, "deployed_at": "2026-03-02T08:00:00Z"}))
    long_tag = "registry.example.com/wallet-core:" + "f" * 400
    with time_machine.travel(START, tick=False) as clock:
        alerts_evaluate()
        clock.shift(60)
        path.write_text(json.dumps({**info, "current_tag": long_tag, "deployed_at": "2026-03-02T09:00:30Z"}))
        result = alerts_evaluate()
    assert result.ran and not result.errors
    (alert,) = Alert.objects.all()
    assert len(alert.target) == 200 and alert.target.startswith("registry.example.com/wallet-core:fff")
    notice = Notification.objects.get()
    assert len(notice.title) <= 300 and notice.title.startswith("[DEPLOY] registry.example.com")
    assert long_tag in notice.body  # the message keeps the whole tag
