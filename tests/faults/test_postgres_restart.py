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
from celery import Celery
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
    # Rows locked before the restart began belong to a drain the restart interrupted (its connection is
    # cut: it writes nothing more). Not "before the server was back": a drain that claimed in the instant
    # after, and had fetched but not yet written a row (the pipeline writes after refilling its pool),
    # would finish it after the ageing below, and the row would count as interrupted yet never re-fetched.
    restarted_at = timezone.now()
    cluster.restart()
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
    assert all(fetches[full_id] == before_retry.get(full_id, 0) + 1 for full_id in retried), {
        i: (before_retry.get(i, 0), fetches[i]) for i in retried
    }
    assert worker.poll() is None and beat.poll() is None, _logs(tmp_path)  # the same processes throughout
    # The interrupted drain failed as a task: counted, with its database error, for /queues.
    _, errors = accounting.queue_figures(["celery"])
    assert any(e["error"].startswith(("OperationalError", "InterfaceError")) for e in errors), errors


THOUSANDS = 3000
PACED = "events=3&delay=0.02"  # 20 ms a feed, 8 at once: the drain lasts several seconds


@pytest.fixture
def fleet_drain(redis_server, subprocess_env, tmp_path, settings):
    """A worker (two threads: a drain and the alerts side by side) and beat, the alerts evaluated every 10 s."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_server.url
    env = {
        **subprocess_env, "CELERY_BROKER_URL": redis_server.url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "100", "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "8",
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": "8", "CURL_TIMEOUT": "5000",
        "PLANNINGS_BACKFILL_INTERVAL_MS": "600000", "OPSPORTAL_ALERTS_EVALUATE_SECONDS": "10",
    }  # fmt: skip
    worker = celery_worker(env, tmp_path / "worker.log")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield worker, beat, redis_server.url
    processes_stop(beat, worker)


def test_a_postgres_restart_during_a_drain_of_thousands_while_the_alerts_evaluate(feed_host, fleet_drain, tmp_path):
    """The same promise at scale: 3,000 plannings in batches of 100, the alerts evaluating every 10 s.
    After the restart the worker and beat (the same processes) go on, the alerts pass again, each
    planning is refreshed once, and only the rows locked by an interrupted drain wait for the lock TTL."""
    from opsportal.alerts.models import EvaluatorState, Rule

    cluster = _cluster()
    worker, beat, redis_url = fleet_drain
    # A transactional test starts without the migrations' default rules: one that reads the database.
    Rule.objects.create(name="plannings health", kind=Rule.Kind.PLANNINGS_HEALTH)
    now = timezone.now()
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"pk.p{i}", planning_id="pk", title=f"p{i}", url=f"{feed_host.url}/ok/pk{i}.ics?{PACED}")
        for i in range(THOUSANDS)
    )
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)
    full_ids = {p.full_id for p in plannings}
    Celery(broker=redis_url).send_task("alerts.evaluate")  # a pass now, beside the drain (beat's first is 10 s away)

    def logs() -> str:
        return logs_tail(tmp_path, "worker.log", "beat.log")

    def passed_alerts(since) -> bool:
        return EvaluatorState.objects.filter(last_pass_at__gt=since).exists()

    # Mid-drain: a fifth written, and an alerts pass already made.
    wait_until(lambda: PlanningBackup.objects.count() >= THOUSANDS // 5 and passed_alerts(now), timeout=120,
               interval=0.1, message=lambda: f"the drain or the alerts never started\n{logs()}")  # fmt: skip
    written_before = PlanningBackup.objects.count()
    cluster.restart()
    restarted_at = timezone.now()
    connections.close_all()
    assert written_before < THOUSANDS, "the drain was over before the restart: nothing was tested"

    def only_interrupted_rows_left():
        rows = PlanningRefreshQueue.objects.filter(Q(locked_at__isnull=True) | Q(locked_at__gte=restarted_at))
        return not rows.exists()

    wait_until(only_interrupted_rows_left, timeout=120, interval=0.2,
               message=lambda: f"the drain did not go on after the restart\n{logs()}")  # fmt: skip
    interrupted = PlanningRefreshQueue.objects.filter(locked_at__lt=restarted_at)
    retried = set(interrupted.values_list("planning_id", flat=True))
    assert PlanningBackup.objects.count() + len(retried) == THOUSANDS
    # Waiting out LOCK_TTL, and the evaluator's lock if the restart cut a pass, is simulated by ageing them.
    interrupted.update(locked_at=F("locked_at") - timedelta(seconds=LOCK_TTL_SECONDS + 1))
    time_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    EvaluatorState.objects.filter(locked_until__lt=restarted_at + time_limit).update(
        locked_until=F("locked_until") - time_limit
    )
    wait_until(lambda: not PlanningRefreshQueue.objects.exists() and passed_alerts(restarted_at), timeout=120,
               interval=0.2, message=lambda: f"the rows or the alerts were not taken up again\n{logs()}")  # fmt: skip

    backups = PlanningBackup.objects.only("planning_id", "signature", "events")
    assert {b.planning_id for b in backups} == full_ids and len(backups) == THOUSANDS
    assert all(b.signature == events_signature(b.events) for b in backups)
    fetches = {f"pk.p{path.split('/ok/pk', 1)[1].split('.', 1)[0]}": n
               for path, n in feed_host.requests.items() if path.startswith("/ok/pk")}  # fmt: skip
    assert set(fetches) == full_ids
    twice = {full_id for full_id, n in fetches.items() if n != 1}
    assert twice <= retried and all(fetches[f] == 2 for f in twice), (twice, retried)  # only the cut rows, once more
    assert worker.poll() is None and beat.poll() is None, logs()
