"""RabbitMQ, the second broker the README names: the portal's jobs and ``/queues`` on Debian's rabbitmq-server.

A private node (``scripts/servers/rabbitmq.py``, one per session), real Celery worker and beat
processes configured by the broker URL alone (``opsportal/settings.py``: amqp:// means quorum
queues on topic exchanges, publisher confirms, native delayed delivery).
"""

from __future__ import annotations

import subprocess
import sys
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from celery import Celery

from opsportal.alerts.models import EvaluatorState, Rule
from plannings.models import HealthSnapshot, PlanningBackup, PlanningRefreshQueue
from tests import factories
from tests.faults.conftest import celery_beat, celery_worker, logs_tail, processes_stop, wait_until

URL = "/api/v1/admin/ops/queues"
ROOT = Path(__file__).resolve().parents[2]


def _publish(url: str, queue: str, count: int) -> None:
    """``count`` wallet-core jobs into ``queue``, declared as a worker declares it (a quorum queue)."""
    producer = Celery(broker=url)
    producer.conf.update(
        task_default_queue_type="quorum", task_create_missing_queue_type="quorum", task_default_exchange_type="topic"
    )
    for _ in range(count):
        producer.send_task("tests.wallet_job", queue=queue)


@pytest.mark.django_db
def test_queues_reports_the_depth_of_each_rabbitmq_queue(reader, on_rabbitmq):
    _publish(on_rabbitmq.url, "payouts", 3)

    response = reader.get(URL)

    assert response.status_code == HTTPStatus.OK, response.content
    rows = {row["name"]: row for row in response.json()["queues"]}
    assert rows["payouts"]["depth"] == 3
    # Queues the node does not know (yet) have none: the 404 closing the channel does not cut the rest.
    assert rows["virtual_account_issue"]["depth"] == 0 and rows["celery"]["depth"] == 0
    assert on_rabbitmq.queues()["payouts"] == "quorum"


@pytest.mark.django_db
def test_queues_is_503_when_the_rabbitmq_node_cannot_be_reached(reader, monkeypatch):
    from opsportal.celery import app as portal_app
    from scripts.servers.postgres import free_port

    monkeypatch.setattr(portal_app.conf, "broker_url", f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    down = reader.get(URL)
    assert (down.status_code, down.json()["code"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "broker_unavailable")
    assert reader.get(URL, {"partial": "true"}).json()["missing"][0] == "broker"


@pytest.fixture
def rabbit_processes(on_rabbitmq, subprocess_env, tmp_path):
    env = {
        **subprocess_env, "CELERY_BROKER_URL": on_rabbitmq.url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "CURL_TIMEOUT": "2000", "OPSPORTAL_ALERTS_EVALUATE_SECONDS": "10",
    }  # fmt: skip
    worker = celery_worker(env, tmp_path / "worker.log")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield worker, beat
    processes_stop(beat, worker)


@pytest.mark.postgres_only
def test_the_refresh_engine_backfill_and_alerts_run_on_rabbitmq_quorum_queues(
    feed_host, rabbit_processes, on_rabbitmq, reader, tmp_path
):
    worker, beat = rabbit_processes
    for i in range(12):  # no queue rows: beat's start runs the backfill, which queues them
        factories.planning_make(f"rq.ok{i}", url=f"{feed_host.url}/ok/rq{i}.ics?events=3")
    Rule.objects.create(name="queues on rabbitmq", kind=Rule.Kind.QUEUE)  # a transactional test has no defaults
    _publish(on_rabbitmq.url, "payouts", 3)  # wallet core's queue, no consumer here: its depth stays 3

    def logs() -> str:
        return logs_tail(tmp_path, "worker.log", "beat.log")

    wait_until(lambda: PlanningBackup.objects.count() == 12 and not PlanningRefreshQueue.objects.exists(),
               timeout=300, interval=0.5, message=lambda: f"the backups were not all written\n{logs()}")  # fmt: skip
    assert all(feed_host.requests[f"/ok/rq{i}.ics"] == 1 for i in range(12)), feed_host.requests

    # The alerts evaluate on the worker, reading each queue's depth from the node (their queue rule's facts).
    def payouts_seen() -> bool:
        state = EvaluatorState.objects.filter(last_pass_at__isnull=False).first()
        return state and state.memory.get("queue_depths", {}).get("payouts", {}).get("depths", [[None, 0]])[-1][1] == 3

    wait_until(payouts_seen, timeout=120, interval=0.5, message=lambda: f"no alerts pass saw payouts\n{logs()}")

    rows = {row["name"]: row for row in reader.get(URL).json()["queues"]}
    assert rows["payouts"]["depth"] == 3 and rows["celery"]["depth"] is not None
    queues = on_rabbitmq.queues()
    assert queues["celery"] == "quorum" and queues["payouts"] == "quorum", queues
    assert worker.poll() is None and beat.poll() is None, logs()


@pytest.mark.postgres_only
def test_a_countdown_waits_in_rabbitmq_not_in_a_worker(rabbit_processes, on_rabbitmq, subprocess_env):
    """Native delayed delivery: a countdown task waits in the node's celery_delayed_* queues, so no
    worker holds it (prefetch 1, and no global QoS on quorum queues to make room beside it); it runs
    once its time has come. Sent by a process configured by the broker URL alone, as in production."""
    wait_until(lambda: "celery" in on_rabbitmq.queues(), timeout=120, message="the worker never declared its queue")
    countdown = 10
    send = (
        "import time, django; django.setup(); from opsportal.celery import app; "
        f"app.send_task('plannings.health_snapshot', countdown={countdown}); print(time.time())"
    )
    env = {**subprocess_env, "CELERY_BROKER_URL": on_rabbitmq.url}
    sent = subprocess.run([sys.executable, "-c", send], env=env, cwd=ROOT, check=True, timeout=120, capture_output=True)
    sent_at = float(sent.stdout.split()[-1])  # this machine's clock, as time.time() below

    def delayed() -> int:  # the 28 delay levels (2**level seconds each) of kombu's native delayed delivery
        return sum(on_rabbitmq.depths([f"celery_delayed_{level}" for level in range(28)]).values())

    waiting = delayed()
    looked_at = time.time() - sent_at
    assert waiting == 1 or looked_at >= countdown, (looked_at, on_rabbitmq.queues())  # a slow look may come after
    # The minute's health row is what the task writes (beat's own tick is a minute away).
    wait_until(HealthSnapshot.objects.exists, timeout=120, interval=0.2, message="the countdown task never ran")
    assert time.time() - sent_at >= countdown - 1  # int(countdown) seconds in the delay queues, at least
    assert delayed() == 0 and on_rabbitmq.depths(["celery"]) == {"celery": 0}
