"""The refresh worker across real processes on PostgreSQL: concurrent drains, a killed worker, Celery on Redis."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db.models import Value
from django.db.models.functions import Replace
from django.utils import timezone

from plannings import jobs
from plannings.backups import events_signature
from plannings.models import Planning, PlanningBackup, PlanningRefreshQueue
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres_only
# A deadline for processes to start (Django imported afresh: minutes on an overloaded machine) and
# do their work; a process that fails ends at once, so only one that hangs waits this out.
START_WAIT = 300


def _queue_feeds(host, count: int, path: str = "/ok/{i}.ics?events=5", prefix: str = "s") -> list[str]:
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"{prefix}.p{i}", planning_id=prefix, url=f"{host.url}{path.format(i=i)}", title=f"p{i}")
        for i in range(count)
    )
    now = timezone.now()
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)
    return [p.full_id for p in plannings]


def _manage(env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _backups_are_whole() -> bool:
    return all(backup.signature == events_signature(backup.events) for backup in PlanningBackup.objects.all())


def test_four_drain_processes_refresh_each_planning_exactly_once(feed_host, subprocess_env):
    full_ids = _queue_feeds(feed_host, 1000)
    env = {
        **subprocess_env,
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "20",
        "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "4",
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": "4",
        "PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS": "120000",
    }
    workers = [_manage(env, "plannings_refresh") for _ in range(4)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], outputs

    claimed = [int(out.split("claimed ", 1)[1].split(",", 1)[0]) for out, _ in outputs]
    assert sum(claimed) == 1000
    assert all(count > 0 for count in claimed), claimed  # the four really drained side by side
    requested = {path: n for path, n in feed_host.requests.items() if path.startswith("/ok/")}
    assert len(requested) == 1000 and set(requested.values()) == {1}  # each feed fetched exactly once
    assert max(feed_host.max_in_flight_per_path.values()) == 1
    assert PlanningBackup.objects.count() == 1000
    assert set(PlanningBackup.objects.values_list("planning_id", flat=True)) == set(full_ids)
    assert not PlanningRefreshQueue.objects.exists()
    assert _backups_are_whole()


def test_rows_of_a_killed_worker_are_claimed_again_after_the_lock_ttl(feed_host, subprocess_env):
    _queue_feeds(feed_host, 30, path="/ok/{i}.ics?events=5&delay=3", prefix="k")
    env = {**subprocess_env, "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "30"}
    worker = _manage(env, "plannings_refresh")
    deadline = time.monotonic() + START_WAIT
    while PlanningRefreshQueue.objects.filter(locked_at__isnull=False).count() < 30:
        assert time.monotonic() < deadline, "the worker never claimed its batch"
        time.sleep(0.1)
    time.sleep(0.5)  # fetches are in flight
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    assert PlanningRefreshQueue.objects.filter(locked_at__isnull=False).count() == 30
    assert PlanningBackup.objects.count() == 0
    Planning.objects.update(url=Replace("url", Value("&delay=3"), Value("")))
    with time_machine.travel(timezone.now() + timedelta(minutes=4, seconds=59), tick=False):
        assert jobs.refresh_drain(owner="survivor").claimed == 0  # the locks are still live
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1), tick=False):
        result = jobs.refresh_drain(owner="survivor")
    assert (result.claimed, result.succeeded) == (30, 30)
    assert not PlanningRefreshQueue.objects.exists()
    assert PlanningBackup.objects.count() == 30
    assert _backups_are_whole()


@pytest.fixture
def celery_processes(redis_server, subprocess_env, tmp_path):
    env = {
        **subprocess_env,
        "CELERY_BROKER_URL": redis_server.url,
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000",
        "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "CURL_TIMEOUT": "1000",
    }
    celery = [sys.executable, "-m", "celery", "-A", "opsportal"]
    worker = subprocess.Popen(
        [
            *celery,
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "beat.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    yield tmp_path
    for process in (beat, worker):
        process.send_signal(signal.SIGTERM)
    for process in (beat, worker):
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_celery_worker_and_beat_on_redis_keep_the_backups_fresh(feed_host, celery_processes):
    for i in range(20):
        factories.planning_make(f"c.ok{i}", url=f"{feed_host.url}/ok/c{i}.ics?events=3")
    factories.planning_make("c.gone", url=f"{feed_host.url}/status/404/gone")
    from plannings.health import health_report
    from plannings.web.serializers import health_json

    deadline, health = time.monotonic() + START_WAIT, {}
    while time.monotonic() < deadline:
        health = health_json(health_report())
        if health["backups"]["covered"] == 20 and health["backups"]["disabled"] == 1:
            break
        time.sleep(0.5)
    logs = {name: (celery_processes / name).read_text()[-3000:] for name in ("worker.log", "beat.log")}
    assert health["backups"] == {"total": 21, "covered": 20, "disabled": 1}, json.dumps(logs, indent=1)
    assert health["failedHosts"] == [{"host": "c", "count": 1, "lastFailure": "http_4xx"}]
    assert health["workers"]["backfill"] == "idle"
    assert health["workers"]["refreshWorker"] in {"idle", "working"}
    assert (health["status"], health["issues"]) == ("healthy", [])  # 1 of 21 disabled is under 10 %
    assert health["lastBackupWrite"] is not None
    assert os.path.exists(celery_processes / "beat-schedule") or any(celery_processes.glob("beat-schedule*"))


def test_an_enqueue_commits_even_when_the_broker_is_down(subprocess_env):
    from scripts.servers.postgres import free_port

    factories.planning_make("b.down")
    env = {**subprocess_env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    code = (
        "from django.utils import timezone; from plannings import services; "
        "print(services.refresh_request(planning_full_id='b.down', now=timezone.now()))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"
    assert "Error calling" in result.stderr  # the failed wake-up is logged, not raised
    assert PlanningRefreshQueue.objects.get(planning_id="b.down").priority == 10
