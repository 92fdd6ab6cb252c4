"""The health history: the per-minute snapshot task, its pruning, the 24 h read and its setting."""

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plannings import history, tasks
from plannings.health import health_report
from plannings.models import HealthSnapshot
from plannings.web.serializers import health_json
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 13:00 in Paris: outside quiet hours
RETENTION_HOURS = 168


@pytest.fixture
def retention(settings):
    settings.PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS = RETENTION_HOURS
    return settings


def _world() -> None:
    """10 plannings, 6 backed up, 3 queued (1 ready, 1 locked, 1 later), 2 disabled: degraded (20% disabled)."""
    factories.both_jobs_running("idle")
    plannings = factories.plannings_make(10)
    for planning in plannings[:6]:
        factories.backup_make(planning)
    factories.queue_item_make(plannings[6], next_attempt_at=NOW - timedelta(minutes=1))
    factories.queue_item_make(plannings[7], next_attempt_at=NOW, locked_at=NOW - timedelta(minutes=1), lock_owner="w")
    factories.queue_item_make(plannings[8], next_attempt_at=NOW + timedelta(hours=1))
    for planning in plannings[8:]:
        factories.disabled_state_make(planning, until=NOW + timedelta(hours=1))


def _snapshots_make(*moments: datetime) -> None:
    HealthSnapshot.objects.bulk_create(HealthSnapshot(taken_at=moment, status="healthy") for moment in moments)


def _taken() -> list[datetime]:
    return sorted(HealthSnapshot.objects.values_list("taken_at", flat=True))


# --- Recording ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_task_records_the_health_figures_at_the_minute(retention):
    _world()
    with time_machine.travel(NOW + timedelta(seconds=20), tick=False):
        assert tasks.health_snapshot() == {"recorded": True, "pruned": 0}
        report = health_json(health_report())

    snapshot = HealthSnapshot.objects.get()
    assert snapshot.taken_at == NOW
    assert (snapshot.status, snapshot.issues) == ("degraded", ["High disabled: 2/10 (20%)"])
    figures = ("queue_depth", "queue_ready", "queue_locked", "total", "covered", "disabled")
    assert tuple(getattr(snapshot, name) for name in figures) == (3, 1, 1, 10, 6, 2)
    # The very numbers the health API reports, from the same code path.
    assert (snapshot.status, snapshot.issues) == (report["status"], report["issues"])
    assert (snapshot.queue_depth, snapshot.queue_ready, snapshot.queue_locked) == tuple(report["queue"].values())
    assert (snapshot.total, snapshot.covered, snapshot.disabled) == tuple(report["backups"].values())


@pytest.mark.django_db
def test_it_records_jobs_not_started_as_unhealthy(retention):
    with time_machine.travel(NOW, tick=False):
        tasks.health_snapshot()
    snapshot = HealthSnapshot.objects.get()
    assert (snapshot.status, snapshot.issues, snapshot.total) == ("unhealthy", ["Jobs not started"], 0)


@pytest.mark.django_db
def test_a_minute_keeps_its_first_snapshot_however_often_the_task_runs(retention):
    _world()
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        assert tasks.health_snapshot()["recorded"] is True
    factories.planning_make("school.late")
    with time_machine.travel(NOW + timedelta(seconds=59, microseconds=999_999), tick=False):
        assert tasks.health_snapshot()["recorded"] is False
    assert list(HealthSnapshot.objects.values_list("taken_at", "total")) == [(NOW, 10)]

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert tasks.health_snapshot()["recorded"] is True
    assert sorted(HealthSnapshot.objects.values_list("taken_at", "total")) == [
        (NOW, 10),
        (NOW + timedelta(minutes=1), 11),
    ]


@pytest.mark.postgres_only
def test_concurrent_recorders_of_one_minute_insert_one_row(transactional_db):
    workers = 6
    start = threading.Barrier(workers)
    results: list[bool] = []

    def record() -> None:
        try:
            start.wait(timeout=10)
            results.append(history.health_snapshot_record(now=NOW + timedelta(seconds=30)))
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False] * (workers - 1) + [True]
    assert _taken() == [NOW]


# --- Pruning ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_task_prunes_exactly_the_snapshots_older_than_the_retention(retention):
    cutoff = NOW - timedelta(hours=RETENTION_HOURS)
    _snapshots_make(
        cutoff - timedelta(days=3),
        cutoff - timedelta(minutes=1),
        cutoff,
        cutoff + timedelta(minutes=1),
        NOW - timedelta(minutes=1),
    )
    with time_machine.travel(NOW, tick=False):
        assert tasks.health_snapshot() == {"recorded": True, "pruned": 2}
    assert _taken() == [cutoff, cutoff + timedelta(minutes=1), NOW - timedelta(minutes=1), NOW]


@pytest.mark.django_db
def test_the_retention_setting_decides_what_is_pruned(retention):
    retention.PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS = 24
    _snapshots_make(NOW - timedelta(hours=25), NOW - timedelta(hours=23))
    with time_machine.travel(NOW, tick=False):
        assert tasks.health_snapshot()["pruned"] == 1
    assert _taken() == [NOW - timedelta(hours=23), NOW]


@pytest.mark.django_db
def test_a_backlog_is_pruned_in_bounded_batches_oldest_first():
    old = NOW - timedelta(days=30)
    _snapshots_make(*(old + timedelta(minutes=i) for i in range(25)), NOW)

    with CaptureQueriesContext(connection) as queries:
        pruned = history.health_snapshots_prune(now=NOW, retention=timedelta(days=7), batch_size=10, max_batches=2)
    assert pruned == 20
    deletes = [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 2
    assert all("LIMIT 10" in sql for sql in deletes)
    assert _taken() == [old + timedelta(minutes=i) for i in range(20, 25)] + [NOW]

    assert history.health_snapshots_prune(now=NOW, retention=timedelta(days=7), batch_size=10, max_batches=2) == 5
    assert _taken() == [NOW]


# --- The 24 h read ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_last_24_hours_come_oldest_first_in_one_query(django_assert_num_queries):
    _snapshots_make(*(NOW - timedelta(minutes=i) for i in range(1500)), NOW + timedelta(minutes=1))

    with django_assert_num_queries(1):
        rows = history.health_history(now=NOW)
    assert len(rows) == history.HISTORY_MAX_ROWS == 1440
    assert (rows[0].taken_at, rows[-1].taken_at) == (NOW - timedelta(minutes=1439), NOW)
    assert [row.taken_at for row in rows] == sorted(row.taken_at for row in rows)


@pytest.mark.django_db
def test_the_read_never_returns_more_than_1440_rows_and_keeps_the_newest():
    # Not what the task writes (one a minute), but the cap must hold whatever the table holds.
    _snapshots_make(*(NOW - timedelta(seconds=30 * i) for i in range(1441)))

    rows = history.health_history(now=NOW)
    assert len(rows) == 1440
    assert (rows[0].taken_at, rows[-1].taken_at) == (NOW - timedelta(seconds=30 * 1439), NOW)


# --- Schedule and setting -----------------------------------------------------------


def test_beat_runs_the_snapshot_task_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["plannings-health-snapshot"]
    assert entry["task"] == tasks.health_snapshot.name == "plannings.health_snapshot"
    assert entry["schedule"] == 60
    assert entry["options"]["expires"] == 60


def _settings_value(**env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_", "PLANNINGS_"))}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", DATABASE_URL="sqlite:///:memory:", **env_vars)
    code = "from django.conf import settings; print(settings.PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS)"
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("raw", "hours"), [(None, "168"), ("", "168"), (" 48 ", "48"), ("24", "24")])
def test_the_retention_is_read_from_the_environment(raw, hours):
    result = _settings_value(**({} if raw is None else {"PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS": raw}))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == hours


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a week", "PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS='a week' is not a whole number"),
        ("12.5", "PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS='12.5' is not a whole number"),
        ("23", "PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS=23 is below the minimum of 24"),
        ("-1", "PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS=-1 is below the minimum of 24"),
    ],
)
def test_a_bad_retention_stops_start_up_naming_the_variable(raw, message):
    result = _settings_value(PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS=raw)
    assert result.returncode != 0
    assert message in result.stderr
