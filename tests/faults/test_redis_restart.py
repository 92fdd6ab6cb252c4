"""Fault: Redis (the Celery broker and the job accounting store) stops and starts while a worker and beat run.

A private Redis of this test's own, a real Celery worker (the portal's app plus the
wallet-like test jobs) and real Celery beat ticking every second. Redis is stopped,
then started again on the same port, empty (no persistence, as after a crash).

Documented answers: ``/queues`` is 503 ``broker_unavailable`` during the outage, or 200
with ``"missing": ["broker", "accounting"]`` and the database-backed figures with
``?partial=true``; 200 again once Redis is back. The worker and beat are the same
processes throughout: the worker reconnects by itself, beat's ticks reach it again,
and jobs sent after the restart are processed and counted.
"""

from __future__ import annotations

import os
from datetime import timedelta
from http import HTTPStatus

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

from opsportal.celery import app as portal_app
from tests import factories
from tests.conftest import _server_or_skip
from tests.faults.conftest import celery_beat, celery_worker, logs_tail, processes_stop, wait_until

URL = "/api/v1/admin/ops/queues"
pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_alone(tmp_path):
    from scripts.servers.redis import PrivateRedis

    server = _server_or_skip(lambda: PrivateRedis(tmp_path / "redis"))
    _server_or_skip(server.start)
    yield server
    server.destroy()


@pytest.fixture
def worker_and_beat(redis_alone, tmp_path, settings, monkeypatch):
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DJANGO_ENV": "test",
        "CELERY_BROKER_URL": redis_alone.url, "DATABASE_URL": "sqlite:///:memory:",
        # The plannings jobs answer "disabled" without touching a database: beat's ticks are pure broker traffic.
        "RUN_JOBS": "false", "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000",
    }  # fmt: skip
    worker = celery_worker(env, tmp_path / "worker.log", app="tests.walletops.worker_app", queues="celery,payouts")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_alone.url
    monkeypatch.setattr(portal_app.conf, "broker_url", redis_alone.url)  # this (web) process reads the same broker
    yield worker, beat
    processes_stop(beat, worker)


def _logs(tmp_path) -> str:
    return logs_tail(tmp_path, "worker.log", "beat.log")


def _rows(response) -> dict:
    return {q["name"]: q for q in response.json()["queues"]} if response.status_code == HTTPStatus.OK else {}


def test_the_worker_and_beat_ride_out_a_redis_restart(reader, redis_alone, worker_and_beat, tmp_path):
    worker, beat = worker_and_beat
    producer = Celery(broker=redis_alone.url)
    factories.queue_item_make(factories.planning_make("r.queued"))  # the runner queue's depth is in the database

    def counted(queue: str, at_least: float):
        rows = _rows(reader.get(URL))
        return rows and (rows[queue]["processed_per_sec"] or 0) >= at_least and rows

    producer.send_task("tests.wallet_job", args=[False], queue="payouts")
    wait_until(lambda: counted("payouts", 0.003) and counted("celery", 0.003), timeout=60, interval=0.5,
               message=lambda: f"no job counted before the fault\n{_logs(tmp_path)}")  # fmt: skip

    redis_alone.stop()
    down = reader.get(URL)
    assert (down.status_code, down.json()["code"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "broker_unavailable")
    partial = reader.get(URL, {"partial": "true"})
    assert partial.status_code == HTTPStatus.OK
    assert partial.json()["missing"] == ["broker", "accounting"]
    rows = _rows(partial)
    assert rows["payouts"]["depth"] is None and rows["payouts"]["processed_per_sec"] is None
    assert rows["plannings_refresh"]["depth"] == 1  # what the database knows is still served

    # The outage lasts until both have met it: the worker lost its connection, and beat failed to send a tick.
    def logged(name: str, *texts: str) -> bool:
        log = (tmp_path / name).read_text(errors="replace")
        return any(text in log for text in texts)

    beat_failed = ("beat: Connection error", "Couldn't apply scheduled task")  # connecting, or publishing a tick
    wait_until(
        lambda: logged("worker.log", "Connection to broker lost") and logged("beat.log", *beat_failed),
        timeout=20,
        message=lambda: f"the outage was not met\n{_logs(tmp_path)}",
    )
    assert worker.poll() is None and beat.poll() is None, _logs(tmp_path)

    redis_alone.start()  # same port, empty: every count and queue from before is gone
    assert reader.get(URL).status_code == HTTPStatus.OK  # the very next request reads the new Redis
    for index in range(3):
        producer.send_task("tests.wallet_job", args=[index == 0], queue="payouts")
    after = wait_until(
        lambda: counted("payouts", round(3 / 300, 3)) and counted("celery", 0.003),
        timeout=60,
        interval=0.5,
        message=lambda: f"no job counted after the restart\n{_logs(tmp_path)}",
    )
    assert after["payouts"]["depth"] == 0 and after["payouts"]["failures_last_hour"] == 1
    assert worker.poll() is None and beat.poll() is None  # the same processes, never restarted


THOUSANDS = 3000
PACED = "events=3&delay=0.02"  # 20 ms a feed, 8 at once: the drain lasts several seconds


@pytest.fixture
def drain_on_redis(redis_alone, subprocess_env, tmp_path, settings):
    """The portal's own worker (a drain and the alerts side by side) and beat on the restartable Redis;
    ``start_worker`` starts another worker, as a container's restart policy does when one exits."""
    env = {
        **subprocess_env, "CELERY_BROKER_URL": redis_alone.url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "100", "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "8",
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": "8", "CURL_TIMEOUT": "5000",
        "PLANNINGS_BACKFILL_INTERVAL_MS": "600000", "OPSPORTAL_ALERTS_EVALUATE_SECONDS": "10",
    }  # fmt: skip
    workers = []

    def start_worker():
        workers.append(celery_worker(env, tmp_path / f"worker{len(workers) or ''}.log"))
        return workers[-1]

    start_worker()
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield start_worker, beat
    processes_stop(beat, *workers)


@pytest.mark.postgres_only
def test_a_redis_restart_during_a_drain_of_thousands_while_the_alerts_evaluate(
    feed_host, redis_alone, drain_on_redis, tmp_path
):
    """Redis (broker and accounting) stops mid-drain and comes back empty. Beat's ticks of the outage
    are lost, and so are the job counts. A worker that was running a task when the connection went
    may exit ("Unrecoverable error: AttributeError ... 'hostname'": kombu's Redis transport failing to
    put back its prefetched messages, celery/kombu#582 and #970's path); its restart policy starts it
    again, and the rows its drain held wait for the lock TTL, like a killed worker's. After it beat
    (the same process) goes on, the alerts pass again, and every planning is refreshed: none lost,
    none fetched twice but the rows a cut drain held."""
    from django.db.models import F, Q

    from opsportal.alerts.models import EvaluatorState, Rule
    from plannings.models import LOCK_TTL_SECONDS, Planning, PlanningBackup, PlanningRefreshQueue

    start_worker, beat = drain_on_redis
    Rule.objects.create(name="plannings health", kind=Rule.Kind.PLANNINGS_HEALTH)
    Rule.objects.create(name="queues", kind=Rule.Kind.QUEUE)  # reads the broker: down, then back
    now = timezone.now()
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"rk.p{i}", planning_id="rk", title=f"p{i}", url=f"{feed_host.url}/ok/rk{i}.ics?{PACED}")
        for i in range(THOUSANDS)
    )
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)
    Celery(broker=redis_alone.url).send_task("alerts.evaluate")  # a pass now, beside the drain

    def passed_alerts(since) -> bool:
        return EvaluatorState.objects.filter(last_pass_at__gt=since).exists()

    def log(name: str) -> str:
        return (tmp_path / name).read_text(errors="replace")

    wait_until(lambda: PlanningBackup.objects.count() >= THOUSANDS // 5 and passed_alerts(now), timeout=120,
               interval=0.1, message=lambda: f"the drain or the alerts never started\n{_logs(tmp_path)}")  # fmt: skip
    redis_alone.stop()
    stopped_at = timezone.now()
    assert PlanningBackup.objects.count() < THOUSANDS, "the drain was over before the restart: nothing was tested"
    wait_until(lambda: "Connection to broker lost" in log("worker.log"), timeout=30,
               message=lambda: f"the worker never met the outage\n{_logs(tmp_path)}")  # fmt: skip
    redis_alone.start()  # same port, empty
    restarted_at = timezone.now()
    if "Unrecoverable error" in log("worker.log"):
        start_worker()  # the container's restart policy
    # Rows a cut drain held wait for LOCK_TTL (5 min), and the evaluator's lock for the task time limit:
    # both simulated by ageing them, once only such rows are left.
    not_held = Q(locked_at__isnull=True) | Q(locked_at__gte=stopped_at)
    wait_until(lambda: not PlanningRefreshQueue.objects.filter(not_held).exists(), timeout=120, interval=0.2,
               message=lambda: f"the drain did not go on\n{_logs(tmp_path)}")  # fmt: skip
    held = set(PlanningRefreshQueue.objects.values_list("planning_id", flat=True))
    PlanningRefreshQueue.objects.update(locked_at=F("locked_at") - timedelta(seconds=LOCK_TTL_SECONDS + 1))
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    EvaluatorState.objects.filter(locked_until__lt=stopped_at + limit).update(locked_until=F("locked_until") - limit)
    wait_until(lambda: not PlanningRefreshQueue.objects.exists() and passed_alerts(restarted_at), timeout=120,
               interval=0.2, message=lambda: f"rows or alerts not taken up again\n{_logs(tmp_path)}")  # fmt: skip

    assert PlanningBackup.objects.count() == THOUSANDS
    fetches = {path: n for path, n in feed_host.requests.items() if path.startswith("/ok/rk")}
    assert len(fetches) == THOUSANDS
    twice = {f"rk.p{path.removeprefix('/ok/rk').removesuffix('.ics')}" for path, n in fetches.items() if n != 1}
    assert twice <= held and all(n <= 2 for n in fetches.values()), (twice, held)
    queues = EvaluatorState.objects.get().memory["queue_depths"]
    assert queues["celery"]["depths"][-1][1] == 0  # the broker read again
    assert beat.poll() is None, _logs(tmp_path)  # beat rode it out
