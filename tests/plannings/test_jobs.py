"""The jobs' loops: backfill selection and states, adaptive polling, the sweep, and health over time."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from plannings import jobs
from plannings.health import health_report
from plannings.models import JobRuntime, PlanningRefreshQueue, PlanningRefreshState
from plannings.runtime import jobs_pause
from plannings.web.serializers import health_json
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Paris: outside quiet hours
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _runtime(job_id) -> JobRuntime:
    return JobRuntime.objects.get(job_id=job_id)


def _queued_ids() -> list[str]:
    return sorted(PlanningRefreshQueue.objects.values_list("planning_id", flat=True))


# --- Backfill -----------------------------------------------------------------------


def test_backfill_enqueues_missing_and_stale_but_not_disabled_fresh_or_queued(settings):
    settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS = 6
    missing = factories.planning_make("s.missing")
    stale = factories.planning_make("s.stale")
    factories.backup_make(stale, updated_at=NOW - timedelta(hours=7))
    fresh = factories.planning_make("s.fresh")
    factories.backup_make(fresh, updated_at=NOW - timedelta(hours=5))
    disabled = factories.planning_make("s.disabled")
    factories.disabled_state_make(disabled, until=NOW + timedelta(hours=1))
    was_disabled = factories.planning_make("s.was-disabled")
    factories.disabled_state_make(was_disabled, until=NOW)
    queued = factories.planning_make("s.queued")
    factories.queue_item_make(queued, priority=10, next_attempt_at=NOW + timedelta(minutes=5))

    result = jobs.backfill_pass()
    assert (result.state, result.missing, result.stale) == ("idle", 2, 1)
    assert _queued_ids() == sorted([missing.pk, stale.pk, was_disabled.pk, queued.pk])
    assert PlanningRefreshQueue.objects.get(planning=queued).priority == 10  # left as it was
    runtime = _runtime("plannings-backfill")
    assert (runtime.state, runtime.last_loop_at, runtime.last_work_at) == ("idle", NOW, NOW)


def test_backfill_limits_apply_to_each_selection_and_stale_goes_oldest_first(settings):
    settings.PLANNINGS_BACKFILL_MISSING_LIMIT = 2
    settings.PLANNINGS_BACKFILL_STALE_LIMIT = 1
    factories.plannings_make(5, school="m")
    for hours, name in [(10, "s.older"), (30, "s.oldest"), (8, "s.old")]:
        factories.backup_make(factories.planning_make(name), updated_at=NOW - timedelta(hours=hours))
    result = jobs.backfill_pass()
    assert (result.missing, result.stale) == (2, 1)
    assert _queued_ids() == ["m.p0", "m.p1", "s.oldest"]


def test_backfill_does_nothing_while_paused():
    factories.planning_make("s.a")
    jobs_pause(by="ops", now=NOW)
    assert jobs.backfill_pass().state == "paused"
    assert _queued_ids() == []
    assert _runtime("plannings-backfill").state == "paused"


def test_backfill_does_nothing_in_quiet_hours(frozen_now):
    factories.planning_make("s.a")
    frozen_now.move_to(datetime(2026, 3, 10, 21, 30, tzinfo=UTC))  # 22:30 in Paris
    assert jobs.backfill_pass().state == "quiet_hours"
    assert _queued_ids() == []
    assert _runtime("plannings-backfill").state == "quiet_hours"


@pytest.mark.parametrize(
    ("run_jobs", "allowed", "runs"),
    [(True, ["*"], True), (True, ["plannings-refresh-worker"], False), (False, ["*"], False)],
)
def test_run_jobs_and_allowed_jobs_decide_whether_the_backfill_runs(settings, run_jobs, allowed, runs):
    settings.RUN_JOBS, settings.ALLOWED_JOBS = run_jobs, allowed
    factories.planning_make("s.a")
    result = jobs.backfill_pass()
    assert (result.state != "disabled") is runs
    assert JobRuntime.objects.filter(job_id="plannings-backfill").exists() is runs


def test_a_database_error_leaves_the_backfill_idle_with_the_error(monkeypatch):
    from django.db import DatabaseError

    def broken(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("plannings.jobs.backfill_select", broken)
    with pytest.raises(DatabaseError):
        jobs.backfill_pass()
    runtime = _runtime("plannings-backfill")
    assert (runtime.state, runtime.last_error) == ("idle", "DatabaseError: connection lost")


# --- Refresh polling ------------------------------------------------------------------


def test_idle_polls_back_off_from_min_to_max_poll(frozen_now, settings):
    settings.PLANNINGS_REFRESH_WORKER_MIN_POLL_MS = 1000
    settings.PLANNINGS_REFRESH_WORKER_MAX_POLL_MS = 10_000
    delays = []
    for _ in range(6):
        result = jobs.refresh_poll(owner="w")
        assert result.state == "idle"
        delays.append(result.next_poll_in.total_seconds())
        assert jobs.refresh_poll(owner="w").state == "not_due"  # a tick before the delay is skipped
        frozen_now.shift(result.next_poll_in)
    assert delays == [1, 2, 4, 8, 10, 10]


def test_an_enqueue_wakes_the_worker_before_its_poll_is_due(feed_host, frozen_now):
    jobs.refresh_poll(owner="w")
    frozen_now.shift(timedelta(milliseconds=10))
    assert jobs.refresh_poll(owner="w").state == "not_due"
    planning = factories.planning_make("s.a", url=f"{feed_host.url}/ok/a.ics")
    factories.queue_item_make(planning, next_attempt_at=NOW)
    result = jobs.refresh_poll(owner="w", wake=True)
    assert (result.state, result.drained.succeeded, result.next_poll_in) == ("idle", 1, timedelta(0))


def test_a_paused_worker_claims_nothing_but_keeps_reporting():
    planning = factories.planning_make("s.a", url="http://127.0.0.1:9/never")
    factories.queue_item_make(planning, next_attempt_at=NOW)
    jobs_pause(by="ops", now=NOW)
    assert jobs.refresh_poll(owner="w", wake=True).state == "paused"
    assert PlanningRefreshQueue.objects.get().attempts == 0
    runtime = _runtime("plannings-refresh-worker")
    assert (runtime.state, runtime.last_loop_at) == ("paused", NOW)


def test_the_sweep_disables_dead_rows_every_sweep_interval(frozen_now, settings):
    settings.PLANNINGS_REFRESH_WORKER_SWEEP_INTERVAL_MS = 600_000
    dead = factories.planning_make("s.dead")
    factories.queue_item_make(dead, attempts=10, next_attempt_at=NOW)
    fresh_lock = factories.planning_make("s.locked-dead")
    factories.queue_item_make(fresh_lock, attempts=10, locked_at=NOW - timedelta(minutes=1), lock_owner="x")
    assert jobs.refresh_poll(owner="w").swept == 1
    state = PlanningRefreshState.objects.get(planning=dead)
    assert state.disabled_until == NOW + timedelta(hours=6)
    assert (state.last_failure_kind, state.last_error, state.consecutive_failures) == (
        "max_attempts",
        "max_attempts",
        10,
    )
    assert _queued_ids() == ["s.locked-dead"]
    frozen_now.shift(timedelta(minutes=5))
    assert jobs.refresh_poll(owner="w", wake=True).swept == 0  # not due yet
    frozen_now.shift(timedelta(minutes=6))
    assert jobs.refresh_poll(owner="w", wake=True).swept == 1  # its lock is dead by now


# --- Health over time -----------------------------------------------------------------


def test_health_moves_from_not_started_to_healthy_to_a_stale_worker(feed_host, frozen_now, settings):
    factories.planning_make("s.a", url=f"{feed_host.url}/ok/a.ics")
    assert health_json(health_report())["issues"] == ["Jobs not started"]

    jobs.backfill_pass()
    jobs.refresh_poll(owner="w")
    health = health_json(health_report())
    assert (health["status"], health["backups"]["covered"], health["queue"]["depth"]) == ("healthy", 1, 0)
    assert health["workers"] == {"backfill": "idle", "refreshWorker": "idle"}
    assert health["lastBackupWrite"]["planningFullId"] == "s.a"

    frozen_now.shift(timedelta(seconds=91))  # the worker stopped: no loop for > 3 x 30 s
    health = health_json(health_report())
    assert health["issues"] == ["Refresh worker stale (91s ago)"]
    assert health["status"] == "unhealthy"


def test_the_scheduler_start_reports_enabled_jobs_as_starting(settings):
    settings.ALLOWED_JOBS = ["plannings-backfill"]
    assert jobs.jobs_starting() == ["plannings-backfill"]
    assert _runtime("plannings-backfill").state == "starting"
    assert not JobRuntime.objects.filter(job_id="plannings-refresh-worker").exists()
    health = health_json(health_report())
    assert health["workers"] == {"backfill": "starting", "refreshWorker": "unknown"}
    assert "Jobs not started" not in health["issues"]


def test_an_unexpected_error_in_a_drain_is_recorded_then_raised(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("claim exploded")

    monkeypatch.setattr("plannings.services.refresh_queue_claim", broken)
    with pytest.raises(RuntimeError):
        jobs.refresh_poll(owner="w", wake=True)
    runtime = _runtime("plannings-refresh-worker")
    assert (runtime.state, runtime.last_error) == ("idle", "RuntimeError: claim exploded")
