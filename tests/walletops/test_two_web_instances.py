"""Limits that hold across web instances: two gunicorn masters from the Procfile's web line (3 gthread
workers each, as production's default), each its own process group, on one PostgreSQL, over real HTTP.

What each instance cannot count alone: one person's live log streams (``WALLETOPS_LOG_STREAMS_PER_USER``),
all streams (``WALLETOPS_LOG_STREAMS_TOTAL``), restarts a minute (``WALLETOPS_RESTARTS_PER_MINUTE``) and
failed logins (django-axes' database handler). Requests alternate between the instances (and land on
whichever worker of each accepts them): the caps hold for the two together. An instance killed with
SIGKILL, which closes none of its streams, gives their slots back when their leases lapse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from scripts.servers.postgres import free_port
from scripts.servers.process import process_stop
from tests.walletops.helpers import START_WAIT, procfile_web_command

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # a deadline for an answer, not a measure of speed
API = "/api/v1/admin/ops"
FOLLOW = f"{API}/containers/wallet-core-staging-runner-abc1234/logs?env=staging&follow=true&tail=0"
WORKER = "wallet-core-production-worker-def5678"
OPS_TOKEN = "two-instances-token-of-at-least-32-characters"


class Instance:
    """One web instance: the Procfile's web line as its own process group (a machine, for this purpose)."""

    def __init__(self, name: str, env: dict[str, str], log: Path):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "PORT": str(self.port)}
        command = procfile_web_command(env).replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
        self.log = log
        self.process = subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env,
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip

    def wait_up(self) -> None:
        limit = time.monotonic() + START_WAIT
        while True:
            try:
                if httpx.get(f"{self.url}/up", timeout=2).status_code == HTTPStatus.OK:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, f"{self.name} ended: {self.log.read_text()[-3000:]}"
            assert time.monotonic() < limit, f"{self.name} did not start"
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: nothing closes, nothing is given back."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def stop(self) -> None:
        if self.process.poll() is None:
            process_stop(self.process, timeout=20)


@pytest.fixture
def instances(subprocess_env, fleet, tmp_path):
    def start(**extra: str) -> tuple[Instance, Instance]:
        env = {
            **subprocess_env,
            "WEB_CONCURRENCY": "3",
            "WEB_THREADS": "8",
            "WALLETOPS_DOCKER_HOSTS": f"staging={fleet.staging_url};production={fleet.production_url}",
            "OPS_TOKEN": OPS_TOKEN,
            "OPSPORTAL_VAR_DIR": str(tmp_path),
            "CELERY_BROKER_URL": f"filesystem://{tmp_path}",
            "PATH": f"{ROOT / '.venv' / 'bin'}:{subprocess_env.get('PATH', '')}",
            **extra,
        }
        pair = (Instance("a", env, tmp_path / "a.log"), Instance("b", env, tmp_path / "b.log"))
        started.extend(pair)
        for instance in pair:
            instance.wait_up()
        return pair

    started: list[Instance] = []
    yield start
    for instance in started:
        instance.stop()


class Streams:
    """Live log streams held open (each read to its first comment: its slot is taken) until the block ends."""

    def __init__(self, stack: ExitStack):
        self.stack = stack
        self.client = stack.enter_context(httpx.Client(timeout=httpx.Timeout(WAIT)))

    def open(self, instance: Instance, secret: str) -> int:
        """200 (the stream stays open), or the refusal's status with its code checked."""
        response = self.stack.enter_context(
            self.client.stream("GET", instance.url + FOLLOW, headers={"Authorization": f"Bearer {secret}"})
        )
        if response.status_code == HTTPStatus.OK:
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")  # the stream has started
            self.stack.callback(lines.close)
        else:
            response.read()
        return response.status_code

    def refusal(self, instance: Instance, secret: str) -> str:
        with self.client.stream("GET", instance.url + FOLLOW, headers={"Authorization": f"Bearer {secret}"}) as r:
            assert r.status_code == HTTPStatus.TOO_MANY_REQUESTS, r.status_code  # (a 200 would not end: not read)
            r.read()
            assert r.json()["code"] == "too_many_streams"
            return r.json()["detail"]


def test_the_stream_caps_hold_across_two_instances_and_a_killed_ones_slots_lapse(instances, token_for):
    a, b = instances(
        WALLETOPS_LOG_STREAMS_PER_USER="4", WALLETOPS_LOG_STREAMS_TOTAL="6", WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS="1"
    )
    one, two, three = token_for("read", name="one"), token_for("read", name="two"), token_for("read", name="three")
    with ExitStack() as stack:
        streams = Streams(stack)
        # One person: four streams, two on each instance; the fifth is refused on either.
        assert [streams.open(instance, one) for instance in (a, b, a, b)] == [200] * 4
        assert "WALLETOPS_LOG_STREAMS_PER_USER" in streams.refusal(a, one)
        assert "WALLETOPS_LOG_STREAMS_PER_USER" in streams.refusal(b, one)
        # All together: two more make six; a third person is refused on either.
        assert [streams.open(instance, two) for instance in (a, b)] == [200] * 2
        assert "WALLETOPS_LOG_STREAMS_TOTAL" in streams.refusal(a, three)
        assert "WALLETOPS_LOG_STREAMS_TOTAL" in streams.refusal(b, three)

        # Instance a goes without closing anything (3 of the 6 streams were its): their leases lapse
        # after 3 heartbeats (3 s here), then b admits the third person again.
        a.kill()
        killed = time.monotonic()
        limit = killed + WAIT
        while (status := streams.open(b, three)) != HTTPStatus.OK:
            assert status == HTTPStatus.TOO_MANY_REQUESTS and time.monotonic() < limit, status
            time.sleep(0.2)
        freed_after = time.monotonic() - killed
        # (Nothing of a's closed them: their rows lapsed, 3 s after their last renewal, at most 1 s before the kill.)
        print(f"a SIGKILLed instance's stream slots were free again after {freed_after:.1f} s (lease: 3 s)")


def test_the_restart_limit_holds_across_two_instances(instances, token_for):
    a, b = instances(WALLETOPS_RESTARTS_PER_MINUTE="3", WALLETOPS_DOCKER_TIMEOUT="60")
    secret = token_for("read", "restart", name="burst")
    count = 10
    barrier = threading.Barrier(count)

    def post(n: int) -> int:
        url = (a, b)[n % 2].url  # five to each instance, released together
        with httpx.Client(timeout=WAIT * 2) as client:
            barrier.wait()
            response = client.post(f"{url}{API}/containers/{WORKER}/restart", json={"timeout": 0},
                                   headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
            return response.status_code

    with ThreadPoolExecutor(count) as pool:
        statuses = Counter(pool.map(post, range(count)))
    # Three admitted in all (a busy engine may answer one with 503: still admitted, still counted).
    admitted = statuses[HTTPStatus.OK] + statuses[HTTPStatus.SERVICE_UNAVAILABLE]
    assert admitted == 3 and statuses[HTTPStatus.TOO_MANY_REQUESTS] == 7, statuses


def _login(client: httpx.Client, instance: Instance, password: str) -> httpx.Response:
    page = client.get(f"{instance.url}/admin/login/")
    assert page.status_code == HTTPStatus.OK
    return client.post(
        f"{instance.url}/admin/login/",
        data={"username": "operator", "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{instance.url}/admin/login/"},
    )


def test_the_login_lockout_holds_across_two_instances(instances, django_user_model, settings):
    from axes.models import AccessAttempt

    # axes' handler stores attempts in the database (its default), not in a process's memory or cache.
    assert getattr(settings, "AXES_HANDLER", "axes.handlers.database.AxesDatabaseHandler") == (
        "axes.handlers.database.AxesDatabaseHandler"
    )
    django_user_model.objects.create_user("operator", password="right-password", is_staff=True)
    a, b = instances(OPSPORTAL_LOGIN_FAILURE_LIMIT="3")
    statuses = []
    for instance in (a, b, a):  # three failures, spread over both instances: the third reaches the limit
        with httpx.Client(timeout=WAIT) as client:
            statuses.append(_login(client, instance, "wrong").status_code)
    assert statuses == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]  # the form again, then locked
    assert sum(AccessAttempt.objects.values_list("failures_since_start", flat=True)) >= 3
    for instance in (b, a):  # locked on both, even with the right password
        with httpx.Client(timeout=WAIT) as client:
            assert _login(client, instance, "right-password").status_code == HTTPStatus.TOO_MANY_REQUESTS
