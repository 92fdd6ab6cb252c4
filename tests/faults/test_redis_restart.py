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
from http import HTTPStatus

import pytest
from celery import Celery

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
