"""Shared by the fault matrix: polling with a deadline, Celery processes (stopped by their own pid), a read client."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import _server_or_skip

ROOT = Path(__file__).resolve().parents[2]


def wait_until(
    predicate: Callable[[], object], *, timeout: float, message: str | Callable[[], str], interval: float = 0.1
):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s: {message() if callable(message) else message}")
        time.sleep(interval)


def celery_start(env: dict, log: Path, *args: str, app: str = "opsportal") -> subprocess.Popen:
    """``celery -A app <args>`` from the checkout, its output in ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, *args],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def celery_worker(env: dict, log: Path, *, app: str = "opsportal", queues: str = "celery") -> subprocess.Popen:
    return celery_start(
        env, log, "worker", "-Q", queues, "--pool", "threads", "--concurrency", "2", "--without-mingle",
        "--without-gossip", "--loglevel", "WARNING", app=app,
    )  # fmt: skip


def celery_beat(env: dict, log: Path, schedule: Path) -> subprocess.Popen:
    return celery_start(env, log, "beat", "--schedule", str(schedule), "--loglevel", "WARNING")


def processes_stop(*processes: subprocess.Popen) -> None:
    """SIGTERM each (warm shutdown), then wait; SIGKILL what does not stop within 20 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def reader(api_client, token_for):
    """A REST client with a ``read`` token (the wallet ops endpoints)."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    return api_client


def logs_tail(folder: Path, *names: str, chars: int = 3000) -> str:
    """The end of each log, for a failure message."""
    return "\n".join(f"--- {name}\n{(folder / name).read_text(errors='replace')[-chars:]}" for name in names)


# One private dockerd per module that asks for it (the shared fleet's engines stay up for the other tests),
# with two Kamal-shaped containers that come back with the engine (restart: always).
IMAGE = "opsportal/busybox:test"
WEB, WORKER = "wallet-core-staging-web-abc1234", "wallet-core-staging-worker-abc1234"


@pytest.fixture(scope="module")
def engine():
    import docker

    from scripts.servers.docker import PrivateDocker, busybox_image

    server = _server_or_skip(lambda: PrivateDocker())
    _server_or_skip(server.start)
    try:
        _server_or_skip(lambda: busybox_image(server.url, IMAGE))
        client = docker.DockerClient(base_url=server.url, version="1.41")
        for name, role in ((WEB, "web"), (WORKER, "worker")):
            client.containers.run(
                IMAGE, ["/bin/sleep", "100000"], name=name, labels={"service": "wallet-core-staging", "role": role},
                detach=True, init=True, network_mode="host", restart_policy={"Name": "always"},
            )  # fmt: skip
        client.close()
        yield server
    finally:
        server.destroy()
