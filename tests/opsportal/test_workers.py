"""The portal's view of its Celery workers comes from the workers' own rows, never a broker broadcast:
a real worker run without gossip, mingle and heartbeat, on Redis, shown on the Jobs page."""

import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from opsportal.workers.models import WorkerProcess
from opsportal.workers.selectors import workers_shown
from tests.faults.conftest import logs_tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
JOBS = "/admin/ops/jobs/"
SOURCES = ("opsportal", "plannings", "walletops", "scripts")


def _state_on_page(admin_client, name: str) -> str | None:
    page = admin_client.get(JOBS).content.decode()
    found = re.search(rf'data-worker="{re.escape(name)}" data-state="(\w+)"', page)
    return found.group(1) if found else None


@pytest.mark.postgres_only
def test_a_worker_without_broadcast_shows_itself_its_queues_and_its_last_task(
    redis_server, subprocess_env, admin_client, tmp_path
):
    env = {**subprocess_env, "CELERY_BROKER_URL": redis_server.url}
    command = [sys.executable, "-m", "celery", "-A", "opsportal", "worker", "-n", "quiet@machine-a"]
    command += ["-Q", "celery,plannings_extra", "--pool", "threads", "--concurrency", "3"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        row = wait_until(
            lambda: WorkerProcess.objects.filter(name="quiet@machine-a").first(),
            timeout=300,
            message=lambda: logs_tail(tmp_path, "worker.log"),
        )
        assert (row.pid, row.queues, row.pool, row.concurrency) == (worker.pid, "celery,plannings_extra", "thread", 3)
        assert row.stopped_at is None and row.last_task == ""
        assert _state_on_page(admin_client, "quiet@machine-a") == "running"
        assert "celery, plannings_extra" in admin_client.get(JOBS).content.decode()

        from opsportal.celery import app
        from plannings.tasks import health_snapshot

        with app.connection_for_write(redis_server.url) as connection:
            health_snapshot.apply_async(queue="plannings_extra", connection=connection)
        row = wait_until(
            lambda: WorkerProcess.objects.filter(name="quiet@machine-a", last_task="plannings.health_snapshot").first(),
            timeout=120,
            message=lambda: logs_tail(tmp_path, "worker.log"),
        )
        assert "plannings.health_snapshot" in admin_client.get(JOBS).content.decode()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert WorkerProcess.objects.get(name="quiet@machine-a").stopped_at is not None
    assert _state_on_page(admin_client, "quiet@machine-a") == "stopped"
    output = log.read_text()
    assert "mingle" not in output.lower() and "gossip" not in output.lower(), output[-2000:]


@pytest.mark.django_db
def test_a_worker_that_stops_reporting_is_shown_stale():
    now = timezone.now()
    WorkerProcess.objects.create(name="w@gone", pid=1, started_at=now, last_seen_at=now, queues="celery")
    assert [row.state for row in workers_shown(now=now + timedelta(seconds=90))] == ["running"]
    with time_machine.travel(now + timedelta(seconds=91), tick=False):
        assert [row.state for row in workers_shown(now=timezone.now())] == ["stale"]


def test_nothing_asks_the_broker_who_is_there():
    """No inspect(), control broadcast nor event receiver: past a few hundred workers they break first."""
    pattern = re.compile(r"control\.inspect|\.control\.|\.inspect\(\)|EventReceiver|app\.events|events\.State")
    found = [
        f"{path}:{number}"
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
