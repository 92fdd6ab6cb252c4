"""Every health rule of plannings spec §7 at its boundary, with time moved rather than slept.

These run on PostgreSQL and again on SQLite (``make test`` runs both).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from plannings.health import health_report
from plannings.web.serializers import health_json
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)  # 13:00 in Paris: outside quiet hours
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def running_jobs():
    factories.both_jobs_running("idle")


def test_it_reports_jobs_not_started_when_no_job_ever_reported():
    report = health_json(health_report())
    assert report["issues"] == ["Jobs not started"]
    assert report["status"] == "unhealthy"
    assert report["workers"] == {"backfill": "unknown", "refreshWorker": "unknown"}


def test_it_reports_jobs_not_started_when_run_jobs_is_off(settings, running_jobs):
    settings.RUN_JOBS = False
    assert health_json(health_report())["issues"] == ["Jobs not started"]


def test_it_is_healthy_when_jobs_run_and_nothing_is_wrong(running_jobs):
    report = health_json(health_report())
    assert report["status"] == "healthy"
    assert report["issues"] == []
    assert report["workers"] == {"backfill": "idle", "refreshWorker": "idle"}


def test_one_reporting_job_is_enough_to_count_as_started():
    factories.runtime_make("plannings-refresh-worker", "working")
    report = health_json(health_report())
    assert report["issues"] == []
    assert report["workers"] == {"backfill": "unknown", "refreshWorker": "working"}


def test_it_reports_paused_jobs_as_degraded(running_jobs):
    factories.jobs_paused()
    report = health_json(health_report())
    assert report["issues"] == ["Jobs paused"]
    assert report["status"] == "degraded"


def test_not_started_takes_precedence_over_paused():
    factories.jobs_paused()
    assert health_json(health_report())["issues"] == ["Jobs not started"]


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(minutes=25), []),  # exactly 2.5 x the 10 min interval: not yet stale
        (timedelta(minutes=25, milliseconds=1), ["Backfill stale (25m ago)"]),
        (timedelta(minutes=30), ["Backfill stale (30m ago)"]),  # 3 x
        (timedelta(minutes=27, seconds=30), ["Backfill stale (28m ago)"]),  # rounds half up
    ],
)
def test_backfill_staleness_boundary(age, expected):
    factories.runtime_make("plannings-backfill", "idle", last_loop_at=NOW - age)
    factories.runtime_make("plannings-refresh-worker", "idle")
    report = health_json(health_report())
    assert report["issues"] == expected
    assert report["status"] == ("unhealthy" if expected else "healthy")


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(seconds=90), []),  # exactly 3 x the 30 s max poll
        (timedelta(seconds=90, milliseconds=1), ["Refresh worker stale (90s ago)"]),
        (timedelta(seconds=135), ["Refresh worker stale (135s ago)"]),
    ],
)
def test_refresh_worker_staleness_boundary(age, expected):
    factories.runtime_make("plannings-backfill", "idle")
    factories.runtime_make("plannings-refresh-worker", "idle", last_loop_at=NOW - age)
    assert health_json(health_report())["issues"] == expected


def test_staleness_follows_the_configured_intervals(settings):
    settings.PLANNINGS_BACKFILL_INTERVAL_MS = 60_000
    settings.PLANNINGS_REFRESH_WORKER_MAX_POLL_MS = 1_000
    factories.runtime_make("plannings-backfill", "idle", last_loop_at=NOW - timedelta(seconds=151))
    factories.runtime_make("plannings-refresh-worker", "idle", last_loop_at=NOW - timedelta(seconds=4))
    assert health_json(health_report())["issues"] == ["Backfill stale (3m ago)", "Refresh worker stale (4s ago)"]


def _queue(count: int, **fields):
    for planning in factories.plannings_make(count):
        factories.queue_item_make(planning, next_attempt_at=NOW - timedelta(seconds=1), **fields)


@pytest.mark.parametrize(("ready", "stuck"), [(100, False), (101, True)])
def test_queue_stuck_boundary(running_jobs, ready, stuck):
    _queue(ready)
    report = health_json(health_report())
    assert report["queue"] == {"depth": ready, "ready": ready, "locked": 0}
    expected = [f"Queue stuck: {ready} ready but worker idle"] if stuck else []
    assert report["issues"] == expected


def test_queue_is_not_stuck_while_the_worker_works():
    factories.both_jobs_running("working")
    _queue(101)
    assert health_json(health_report())["issues"] == []


def test_queue_is_not_stuck_while_a_row_is_locked(running_jobs):
    _queue(101)
    locked = factories.planning_make("other.locked")
    factories.queue_item_make(locked, locked_at=NOW - timedelta(minutes=1), lock_owner="w1")
    report = health_json(health_report())
    assert report["queue"]["locked"] == 1
    assert report["issues"] == []


@pytest.mark.parametrize(
    ("lock_age", "ready", "locked"),
    [
        (timedelta(minutes=4, seconds=59), 0, 1),
        (timedelta(minutes=5), 0, 1),  # exactly 5 minutes old: still a live lock
        (timedelta(minutes=5, microseconds=1), 1, 0),  # older: dead, the row is ready again
    ],
)
def test_lock_ttl_boundary(running_jobs, lock_age, ready, locked):
    planning = factories.planning_make()
    factories.queue_item_make(
        planning, next_attempt_at=NOW - timedelta(hours=1), locked_at=NOW - lock_age, lock_owner="w1"
    )
    assert health_json(health_report())["queue"] == {"depth": 1, "ready": ready, "locked": locked}


def test_rows_at_max_attempts_are_counted_nowhere(running_jobs, settings):
    settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS = 10
    at_max, below_max = factories.plannings_make(2)
    factories.queue_item_make(at_max, attempts=10, next_attempt_at=NOW - timedelta(hours=1))
    factories.queue_item_make(
        below_max,
        attempts=9,
        next_attempt_at=NOW - timedelta(hours=1),
        locked_at=NOW - timedelta(seconds=10),
    )
    assert health_json(health_report())["queue"] == {"depth": 1, "ready": 0, "locked": 1}


def test_a_row_waiting_for_its_backoff_is_in_depth_but_not_ready(running_jobs):
    factories.queue_item_make(factories.planning_make(), next_attempt_at=NOW + timedelta(seconds=1))
    assert health_json(health_report())["queue"] == {"depth": 1, "ready": 0, "locked": 0}


@pytest.mark.parametrize(("disabled", "issue"), [(10, None), (11, "High disabled: 11/100 (11%)")])
def test_high_disabled_boundary(running_jobs, disabled, issue):
    plannings = factories.plannings_make(100)
    for planning in plannings[:disabled]:
        factories.disabled_state_make(planning, until=NOW + timedelta(hours=1))
    report = health_json(health_report())
    assert report["backups"]["disabled"] == disabled
    assert report["issues"] == ([issue] if issue else [])
    assert report["status"] == ("degraded" if issue else "healthy")


def test_a_disabled_until_in_the_past_is_not_disabled(running_jobs):
    planning = factories.planning_make()
    factories.disabled_state_make(planning, until=NOW)  # "disabled" means disabled_until > now
    report = health_json(health_report())
    assert report["backups"]["disabled"] == 0
    assert report["failedHosts"] is None
    assert report["recentFailures"] is None


def test_issues_keep_the_spec_order_and_critical_wins():
    factories.runtime_make("plannings-backfill", "idle", last_loop_at=NOW - timedelta(hours=1))
    factories.runtime_make("plannings-refresh-worker", "idle", last_loop_at=NOW - timedelta(minutes=2))
    factories.jobs_paused()
    plannings = factories.plannings_make(150)
    for planning in plannings[:20]:
        factories.disabled_state_make(planning, until=NOW + timedelta(days=1))
    for planning in plannings[20:]:
        factories.queue_item_make(planning, next_attempt_at=NOW)
    report = health_json(health_report())
    assert report["issues"] == [
        "Jobs paused",
        "Backfill stale (60m ago)",
        "Refresh worker stale (120s ago)",
        "Queue stuck: 130 ready but worker idle",
        "High disabled: 20/150 (13%)",
    ]
    assert report["status"] == "unhealthy"


def test_backups_count_plannings_and_those_with_a_backup(running_jobs):
    plannings = factories.plannings_make(5)
    for planning in plannings[:3]:
        factories.backup_make(planning)
    assert health_json(health_report())["backups"] == {"total": 5, "covered": 3, "disabled": 0}


def test_failed_hosts_group_disabled_plannings_by_school_top_five():
    until = NOW + timedelta(days=1)
    for school, count in [("a", 1), ("b", 6), ("c", 2), ("d", 3), ("e", 4), ("f", 5)]:
        for index, planning in enumerate(factories.plannings_make(count, school=school)):
            kind = "timeout" if index else "http_404"
            factories.disabled_state_make(planning, until=until, kind=kind)
    report = health_json(health_report())
    assert report["failedHosts"] == [
        {"host": "b", "count": 6, "lastFailure": "timeout"},
        {"host": "f", "count": 5, "lastFailure": "timeout"},
        {"host": "e", "count": 4, "lastFailure": "timeout"},
        {"host": "d", "count": 3, "lastFailure": "timeout"},
        {"host": "c", "count": 2, "lastFailure": "timeout"},
    ]
    assert report["backups"]["disabled"] == 21  # every host counts, not only the top five


def test_recent_failures_are_the_five_latest_disabled_states():
    plannings = factories.plannings_make(7)
    for minutes, planning in enumerate(plannings):
        factories.disabled_state_make(
            planning,
            until=NOW + timedelta(days=30),
            kind="http_404",
            consecutive_failures=minutes,
            updated_at=NOW - timedelta(minutes=minutes),
        )
    failures = health_json(health_report())["recentFailures"]
    assert [f["planningFullId"] for f in failures] == [f"school.p{i}" for i in range(5)]
    assert failures[0] == {
        "planningFullId": "school.p0",
        "failureKind": "http_404",
        "failures": 0,
        "disabledUntil": "2026-04-09T12:00:00.000Z",
    }


def test_last_backup_write_is_read_from_the_shared_state():
    from plannings.models import JobsSharedState

    JobsSharedState.objects.create(
        last_write_planning_full_id="enscr.a.b",
        last_write_changed=True,
        last_write_nb_events=42,
        last_write_at=datetime(2026, 3, 10, 11, 59, 58, 123456, tzinfo=UTC),
    )
    assert health_json(health_report())["lastBackupWrite"] == {
        "planningFullId": "enscr.a.b",
        "changed": True,
        "nbEvents": 42,
        "at": "2026-03-10T11:59:58.123Z",
    }


def test_last_backup_write_is_null_before_any_write():
    assert health_json(health_report())["lastBackupWrite"] is None


def test_it_says_when_it_is_quiet_hours_in_the_configured_zone(frozen_now, settings):
    assert health_json(health_report())["inQuietHours"] is False
    frozen_now.move_to(datetime(2026, 3, 10, 20, 0, tzinfo=UTC))  # 21:00 in Paris (UTC+1)
    assert health_json(health_report())["inQuietHours"] is True
    settings.JOBS_QUIET_HOURS_TIMEZONE = "UTC"  # 20:00 UTC is before 21:00
    assert health_json(health_report())["inQuietHours"] is False


def test_it_reads_the_figures_in_five_statements(django_assert_num_queries, running_jobs):
    factories.queue_item_make(factories.planning_make())
    with django_assert_num_queries(5):
        health_report()


def test_the_report_is_a_typed_frozen_object_the_serializer_turns_into_upstreams_json(frozen_now):
    import dataclasses

    from plannings.health import BackupFigures, LastBackupWrite, QueueFigures, RecentFailure
    from plannings.selectors import FailedHost
    from tests.plannings.helpers import GOLDEN_FULL, GOLDEN_NOW, full_world

    frozen_now.move_to(GOLDEN_NOW)
    full_world()
    report = health_report()
    assert (report.status, report.issues) == ("degraded", ("High disabled: 2/7 (29%)",))
    assert (report.backfill_state, report.refresh_worker_state, report.in_quiet_hours) == ("idle", "working", True)
    assert report.queue == QueueFigures(depth=1, ready=1, locked=0)
    assert report.backups == BackupFigures(total=7, covered=4, disabled=2)
    assert report.backups.coverage_pct == 57.1
    assert report.last_backup_write == LastBackupWrite(
        planning_full_id="enscr.p0",
        changed=False,
        nb_events=0,
        at=datetime(2026, 3, 10, 19, 59, 58, 123456, tzinfo=UTC),
    )
    assert report.failed_hosts == (FailedHost("enscr", 1, "http_404"), FailedHost("insa", 1, None))
    assert report.recent_failures[1] == RecentFailure(
        planning_full_id="insa.a.b",
        failure_kind=None,
        failures=7,
        disabled_until=GOLDEN_NOW + timedelta(days=1, microseconds=456789),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.status = "healthy"
    assert json.dumps(health_json(report), separators=(",", ":")).encode() == GOLDEN_FULL


def test_an_empty_report_has_empty_tuples_and_no_coverage(running_jobs):
    report = health_report()
    assert (report.failed_hosts, report.recent_failures, report.last_backup_write) == ((), (), None)
    assert report.backups.coverage_pct is None
    body = health_json(report)
    assert (body["failedHosts"], body["recentFailures"], body["lastBackupWrite"]) == (None, None, None)
