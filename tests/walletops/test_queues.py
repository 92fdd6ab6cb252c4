"""``GET /queues`` and job accounting, on a private Redis with a real Celery worker."""

import os
import signal
import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from celery import Celery

from opsportal.lib import accounting
from scripts.servers.postgres import free_port
from tests import factories

URL = "/api/v1/admin/ops/queues"
ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0  # a fixed instant: windows are checked by moving "now", not by sleeping
pytestmark = pytest.mark.django_db


@pytest.fixture
def accounting_redis(settings, redis_server):
    import redis

    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_server.url
    redis.Redis.from_url(redis_server.url).flushdb()
    return redis_server


@pytest.fixture
def broker_at(monkeypatch):
    from opsportal.celery import app

    def point(url: str):
        monkeypatch.setattr(app.conf, "broker_url", url)

    return point


def test_rates_count_the_last_5_minutes_and_failures_the_last_hour(accounting_redis):
    accounting.outcomes_record(queue="payouts", succeeded=30, at=NOW - 10)
    accounting.outcomes_record(queue="payouts", succeeded=60, at=NOW - 4 * 60)
    accounting.outcomes_record(queue="payouts", succeeded=1000, at=NOW - 6 * 60)  # outside 5 minutes
    accounting.outcomes_record(queue="payouts", failures=[("j1", "ValueError: card declined")], at=NOW - 50 * 60)
    # Failures count over the last hour in ten-minute steps (60 to 70 minutes): this one is too old.
    accounting.outcomes_record(queue="payouts", failures=[("j0", "ValueError: card declined")], at=NOW - 75 * 60)
    accounting.outcomes_record(queue="payouts", failures=[("j2", "ValueError: card declined")], at=NOW - 5)
    accounting.outcomes_record(queue="payouts", failures=[("j3", "TimeoutError: bank")], at=NOW - 30)
    figures, errors = accounting.queue_figures(["payouts", "webhook_notifications"], now=NOW)
    assert figures["payouts"].processed_per_sec == round((30 + 60 + 1 + 1) / 300, 3)  # the last five minutes
    assert figures["payouts"].failures_last_hour == 3
    assert figures["webhook_notifications"].processed_per_sec == 0
    assert [(e["queue"], e["error"], e["count"], e["job_id"]) for e in errors] == [
        ("payouts", "ValueError: card declined", 2, "j2"),
        ("payouts", "TimeoutError: bank", 1, "j3"),
    ]


def test_accounting_never_fails_the_job_when_redis_is_down(settings):
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert accounting.task_outcome_record(queue="payouts", ok=True) is False


@pytest.fixture
def celery_worker(redis_server, tmp_path):
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DJANGO_ENV": "test",
        "CELERY_BROKER_URL": redis_server.url, "DATABASE_URL": "sqlite:///:memory:", "RUN_JOBS": "false",
    }  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.walletops.worker_app", "worker", "-Q",
         "payouts,webhook_notifications", "--pool", "threads", "--concurrency", "4", "--without-mingle",
         "--without-gossip", "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=(tmp_path / "worker.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield tmp_path / "worker.log"
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def test_queues_report_real_work_done_by_a_real_worker(reader, accounting_redis, celery_worker, broker_at):
    producer = Celery(broker=accounting_redis.url)
    for index in range(30):
        producer.send_task("tests.wallet_job", args=[index % 3 == 0], queue="payouts")
    for _ in range(5):
        producer.send_task("tests.wallet_job", args=[False], queue="webhook_notifications")
    for _ in range(7):  # nobody consumes this queue here: its depth is what the broker holds
        producer.send_task("tests.wallet_job", args=[False], queue="pos_settlement")
    factories.queue_item_make(factories.planning_make("s.a"))
    broker_at(accounting_redis.url)

    deadline, body = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        body = reader.get(URL).json()
        rows = {q["name"]: q for q in body.get("queues", [])}
        if rows.get("payouts", {}).get("processed_per_sec") == 0.1 and rows["webhook_notifications"]["depth"] == 0:
            break
        time.sleep(0.5)
    rows = {q["name"]: q for q in body["queues"]}
    assert rows["payouts"] == {"name": "payouts", "kind": "worker", "depth": 0, "processed_per_sec": 0.1,
                               "failures_last_hour": 10}, celery_worker.read_text()[-2000:]  # fmt: skip
    assert rows["webhook_notifications"]["processed_per_sec"] == round(5 / 300, 3)
    assert rows["pos_settlement"]["depth"] == 7
    assert rows["virtual_account_issue"] == {"name": "virtual_account_issue", "kind": "worker", "depth": 0,
                                             "processed_per_sec": 0.0, "failures_last_hour": 0}  # fmt: skip
    assert rows["plannings_refresh"]["kind"] == "runner" and rows["plannings_refresh"]["depth"] == 1
    (error,) = body["errors"]
    assert (error["queue"], error["error"], error["count"]) == ("payouts", "ValueError: card declined", 10)
    assert error["job_id"] and error["timestamp"].endswith("Z")


def test_a_broker_down_is_503_unless_partial_is_asked(reader, accounting_redis, broker_at):
    broker_at(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    accounting.outcomes_record(queue="payouts", succeeded=3)
    response = reader.get(URL)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "broker_unavailable"
    partial = reader.get(URL, {"partial": "true"})
    assert partial.status_code == HTTPStatus.OK
    body = partial.json()
    assert body["missing"] == ["broker"]
    rows = {q["name"]: q for q in body["queues"]}
    assert rows["payouts"]["depth"] is None and rows["payouts"]["processed_per_sec"] == 0.01
    assert rows["plannings_refresh"]["depth"] == 0
    assert reader.get(URL, {"partial": "perhaps"}).status_code == HTTPStatus.BAD_REQUEST


def test_the_refresh_runner_is_accounted(accounting_redis, feed_host):
    from datetime import timedelta

    from django.utils import timezone

    from plannings import jobs

    ok = factories.planning_make("s.ok", url=f"{feed_host.url}/ok/a.ics")
    gone = factories.planning_make("s.gone", url=f"{feed_host.url}/status/404/x")
    for planning in (ok, gone):
        factories.queue_item_make(planning, next_attempt_at=timezone.now() - timedelta(seconds=1))
    jobs.refresh_drain(owner="acct")
    figures, errors = accounting.queue_figures(["plannings_refresh"])
    assert figures["plannings_refresh"].failures_last_hour == 1
    assert figures["plannings_refresh"].processed_per_sec == round(2 / 300, 3)
    assert [(e["error"], e["job_id"]) for e in errors] == [("http_404", "s.gone")]


def test_without_accounting_the_rates_are_unknown_and_partial_says_why(reader, settings, broker_at, redis_server):
    # make run's embedded mode: no Redis for accounting, so nothing was counted. Zeros would read as measured.
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = ""
    broker_at(redis_server.url)
    body = reader.get("/api/v1/admin/ops/queues?partial=true").json()
    assert body["missing"] == ["accounting"]
    assert {row["processed_per_sec"] for row in body["queues"]} == {None}
    assert {row["failures_last_hour"] for row in body["queues"]} == {None}
    assert reader.get("/api/v1/admin/ops/queues").status_code == HTTPStatus.OK  # not an outage: still served
