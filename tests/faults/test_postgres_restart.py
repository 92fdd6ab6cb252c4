"""Fault: the PostgreSQL server restarts while a Celery worker is draining the refresh queue.

The test's own private cluster (``tests/pytest_servers.py``) is restarted (``pg_ctl stop -m
fast`` then start, same port and data: every open session is cut, as in a real
restart) while a real Celery worker, ticked by real Celery beat on Redis, works
through plannings whose feeds the feed server serves slowly.

Documented behaviour (docs/refresh-engine.md): successes are written in one
transaction per group, so "a crash leaves each backup old or new, never half-written,
and the rows locked until the TTL"; "a killed worker's rows are claimed again once
their lock is 5 minutes old". The drain that loses its connection fails as a task (the
failure is counted in job accounting, so ``/queues`` shows it); the same worker's next
tick reconnects and goes on with every row that is not locked. At the end every
planning is refreshed exactly once into a whole backup (signature = md5 of its
events, as the code computes it) and the queue is empty, with the same worker and
beat processes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import F, Q
from django.utils import timezone

from opsportal.lib import accounting
from plannings.backups import events_signature
from plannings.models import LOCK_TTL_SECONDS, Planning, PlanningBackup, PlanningRefreshQueue
from tests.faults.conftest import celery_beat, celery_worker, logs_tail, processes_stop, wait_until

COUNT = 24
EVENTS = 5
SLOW = f"events={EVENTS}&delay=0.4"  # each feed takes 0.4 s: the drain is still running when the restart comes
pytestmark = pytest.mark.postgres_only


def _cluster():
    """The private cluster ``tests/pytest_servers.py`` started for this pytest process."""
    from tests import pytest_servers

    cluster = pytest_servers.CLUSTER
    if cluster is None:
        reason = "the test database is not a private cluster this process can restart"
        if settings.IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return cluster


@pytest.fixture
def drain_processes(redis_server, subprocess_env, tmp_path, settings):
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_server.url
    env = {
        **subprocess_env, "CELERY_BROKER_URL": redis_server.url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "4", "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "2",
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": "2", "CURL_TIMEOUT": "5000",
        "PLANNINGS_BACKFILL_INTERVAL_MS": "600000",
    }  # fmt: skip
    worker = celery_worker(env, tmp_path / "worker.log")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield worker, beat
    processes_stop(beat, worker)


def _logs(tmp_path) -> str:
    return logs_tail(tmp_path, "worker.log", "beat.log")


def test_a_postgres_restart_mid_drain_loses_nothing(feed_host, drain_processes, tmp_path):
    cluster = _cluster()
    worker, beat = drain_processes
    now = timezone.now()
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"pg.p{i}", planning_id="pg", title=f"p{i}", url=f"{feed_host.url}/ok/pg{i}.ics?{SLOW}")
        for i in range(COUNT)
    )
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)
    full_ids = {p.full_id for p in plannings}

    def mid_drain():  # a batch written already, and the next one's feeds being served (not yet written)
        fetching = any(n > 0 for path, n in feed_host.in_flight.items() if path.startswith("/ok/pg"))
        return fetching and PlanningBackup.objects.exists()

    wait_until(mid_drain, timeout=60, interval=0.05, message=lambda: f"the drain never started\n{_logs(tmp_path)}")
    cluster.restart()
    # Rows locked before this instant belong to a drain the restart interrupted (or, in the instant
    # after the server came back, to one that is running: ageing its locks below is then harmless).
    restarted_at = timezone.now()
    connections.close_all()  # this process's connection was cut too

    # The same worker carries on with every row not locked by the interrupted drain.
    def only_interrupted_rows_left():
        rows = PlanningRefreshQueue.objects.filter(Q(locked_at__isnull=True) | Q(locked_at__gte=restarted_at))
        return not rows.exists()

    wait_until(only_interrupted_rows_left, timeout=60, interval=0.2,
               message=lambda: f"the worker did not go on after the restart\n{_logs(tmp_path)}")  # fmt: skip
    interrupted = PlanningRefreshQueue.objects.filter(locked_at__lt=restarted_at)
    retried = set(interrupted.values_list("planning_id", flat=True))
    assert retried, "no drain was interrupted: nothing was tested"
    # Nothing lost: each planning has a whole backup, or is still queued (locked until the lock TTL).
    assert (
        set(PlanningBackup.objects.values_list("planning_id", flat=True))
        | set(interrupted.values_list("planning_id", flat=True))
        == full_ids
    )
    assert PlanningBackup.objects.count() + interrupted.count() == COUNT
    assert all(backup.signature == events_signature(backup.events) for backup in PlanningBackup.objects.all())

    def fetches_now() -> dict[str, int]:
        return {f"pg.p{path.split('/ok/pg', 1)[1].split('.', 1)[0]}": n
                for path, n in feed_host.requests.items() if path.startswith("/ok/pg")}  # fmt: skip

    # An interrupted row was in flight at the restart, or claimed and waiting for the host's slots
    # (the per-host limit is shared by the worker's two drains): either way it is fetched once more.
    before_retry = fetches_now()
    # Waiting LOCK_TTL (5 minutes) is simulated by ageing the interrupted locks in SQL.
    interrupted.update(locked_at=F("locked_at") - timedelta(seconds=LOCK_TTL_SECONDS + 1))
    wait_until(lambda: not PlanningRefreshQueue.objects.exists(), timeout=60, interval=0.2,
               message=lambda: f"the interrupted rows were never refreshed\n{_logs(tmp_path)}")  # fmt: skip

    backups = list(PlanningBackup.objects.all())
    assert {b.planning_id for b in backups} == full_ids and len(backups) == COUNT
    assert all(len(b.events) == EVENTS and b.signature == events_signature(b.events) for b in backups)
    fetches = fetches_now()
    assert set(fetches) == full_ids, fetches
    assert all(fetches[full_id] == before_retry.get(full_id, 0) + 1 for full_id in retried), (fetches, retried)
    assert worker.poll() is None and beat.poll() is None, _logs(tmp_path)  # the same processes throughout
    # The interrupted drain failed as a task: counted, with its database error, for /queues.
    _, errors = accounting.queue_figures(["celery"])
    assert any(e["error"].startswith(("OperationalError", "InterfaceError")) for e in errors), errors
