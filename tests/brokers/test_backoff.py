"""A failed feed's backoff on each broker: no feed fetched twice, none lost, no message waiting for an ETA.

The refresh engine never schedules a retry with a Celery countdown or ETA (on RabbitMQ one would
need native delayed delivery or hold a worker's prefetch slot; on Redis one due beyond the
visibility timeout is delivered twice). A failure writes its ``next_attempt_at`` in the queue row
(``plannings.services``), and the next drain that finds it due claims it under a row lock: the
broker only carries beat's ticks, which expire. So the backoff is the same on Redis and RabbitMQ,
and so is the proof, run on both by real worker and beat processes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from plannings import policy
from plannings.models import Planning, PlanningBackup, PlanningRefreshQueue, RefreshAttempt
from tests.faults.conftest import celery_beat, celery_worker, logs_tail, processes_stop, wait_until

pytestmark = pytest.mark.postgres_only
GOOD, FAILING = 6, 3
BACKOFF_5XX = timedelta(seconds=5)  # the README's: an HTTP 5xx is retried after 5 s x 2^(attempt-1)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request):
    if request.param == "redis":
        import redis

        server = request.getfixturevalue("redis_server")
        redis.Redis.from_url(server.url).flushdb()
        return server.url
    return request.getfixturevalue("on_rabbitmq").url


@pytest.fixture
def drain_processes(broker_url, subprocess_env, tmp_path):
    env = {
        **subprocess_env, "CELERY_BROKER_URL": broker_url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "CURL_TIMEOUT": "2000", "PLANNINGS_BACKFILL_INTERVAL_MS": "600000",
    }  # fmt: skip
    worker = celery_worker(env, tmp_path / "worker.log")
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield worker, beat
    processes_stop(beat, worker)


def test_a_failed_feed_is_retried_after_its_backoff_once_and_never_lost(
    broker_url, feed_host, drain_processes, tmp_path, request
):
    now = timezone.now()
    good = [f"bo.ok{i}" for i in range(GOOD)]
    failing = [f"bo.fail{i}" for i in range(FAILING)]
    plannings = Planning.objects.bulk_create(
        [Planning(full_id=f, planning_id="bo", title=f, url=f"{feed_host.url}/ok/{f}.ics?events=3") for f in good]
        + [Planning(full_id=f, planning_id="bo", title=f, url=f"{feed_host.url}/status/503/{f}") for f in failing]
    )
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)

    def logs() -> str:
        return logs_tail(tmp_path, "worker.log", "beat.log")

    def each_failed_once() -> bool:
        return RefreshAttempt.objects.filter(planning_id__in=failing, outcome=policy.HTTP_5XX).count() >= FAILING

    wait_until(each_failed_once, timeout=300, interval=0.1, message=lambda: f"no failure recorded\n{logs()}")
    # The servers recover: the next attempt of each failing feed succeeds, once its backoff is over.
    for full_id in failing:
        Planning.objects.filter(full_id=full_id).update(url=f"{feed_host.url}/ok/{full_id}.ics?events=3")
    wait_until(lambda: PlanningBackup.objects.count() == GOOD + FAILING and not PlanningRefreshQueue.objects.exists(),
               timeout=120, interval=0.2, message=lambda: f"a feed was lost\n{logs()}")  # fmt: skip

    # Each good feed fetched once; each failing one once per recorded failure, then once with success.
    assert all(feed_host.requests[f"/ok/{f}.ics"] == 1 for f in good), feed_host.requests
    for full_id in failing:
        attempts = list(RefreshAttempt.objects.filter(planning_id=full_id).order_by("started_at"))
        failures = [a for a in attempts if a.outcome == policy.HTTP_5XX]
        assert [a.outcome for a in attempts] == [policy.HTTP_5XX] * len(failures) + [RefreshAttempt.SUCCESS]
        assert feed_host.requests[f"/status/503/{full_id}"] == len(failures)
        assert feed_host.requests[f"/ok/{full_id}.ics"] == 1
        for number, (failed, retried) in enumerate(zip(attempts, attempts[1:], strict=False), start=1):
            backoff = BACKOFF_5XX * 2 ** (number - 1)  # the workers run without jitter
            assert retried.started_at - failed.finished_at >= backoff - timedelta(seconds=1), attempts
    # Nothing waits in the broker for a time to come: the retries lived in the database.
    if broker_url.startswith("amqp"):
        rabbitmq = request.getfixturevalue("on_rabbitmq")
        delayed = rabbitmq.depths([f"celery_delayed_{level}" for level in range(28)])
        assert sum(delayed.values()) == 0, delayed
    else:
        import redis

        held = redis.Redis.from_url(broker_url).hvals("unacked")  # kombu's delivered, not yet acknowledged
        etas = [json.loads(value)[0]["headers"].get("eta") for value in held]
        assert not any(etas), etas
