"""Restart limits that hold under concurrency: real simultaneous requests against gunicorn, on SQLite and PostgreSQL.

The limit is counted before acting, in one locked transaction that also records the attempt
(``services.py``), so in-flight restarts count. Refusals are limited too: past
``WALLETOPS_REFUSALS_PER_MINUTE`` a minute they answer 429 and only bump ``repeats``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.process import process_stop
from tests.conftest import _server_or_skip
from walletops.models import RestartAttempt

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/admin/ops/containers"
WORKER = "wallet-core-production-worker-def5678"
AT_ONCE = 15


class Gunicorn:
    """The portal served by gunicorn (3 workers x 5 threads: 15 requests at once) on a given database."""

    def __init__(self, env: dict[str, str]):
        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=180)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self) -> Gunicorn:
        command = [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", "3", "--threads", "5", "--worker-class", "gthread", "--timeout", "60"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"gunicorn exited {self.process.returncode}: {self.process.stderr.read()}")
            try:
                httpx.get(f"{self.url}/up", timeout=1)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise ServerUnavailable("gunicorn did not answer within 60 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        process_stop(self.process, timeout=20)


@pytest.fixture(
    params=[
        # Its own SQLite file whatever the pass's database: the SQLite pass would run it again as is.
        pytest.param("sqlite", marks=pytest.mark.database_agnostic),
        pytest.param("postgres", marks=[pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]),
    ]
)
def served(request, fleet, tmp_path):
    """Gunicorn on a SQLite file (``make run``'s database) or on the test PostgreSQL, with the private engines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_", "WALLETOPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_ENV="test", OPSPORTAL_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=f"filesystem://{tmp_path}",
        WALLETOPS_DOCKER_HOSTS=f"staging={fleet.staging_url};production={fleet.production_url}",
        WALLETOPS_RESTARTS_PER_MINUTE="5", WALLETOPS_REFUSALS_PER_MINUTE="10",
        # Five restarts at once on a busy machine's vfs engine can outlast the default 10 s Docker timeout;
        # this test is about counting, so a slow engine must not turn a restart into a 503.
        WALLETOPS_DOCKER_TIMEOUT="60",
    )  # fmt: skip
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("live_database_url")
        server = Gunicorn(env)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        server = Gunicorn(env)
        server.manage("migrate", "--noinput")
    _server_or_skip(server.start)
    server.database = request.param
    yield server
    server.stop()


def _audit(server: Gunicorn, token_name: str) -> tuple[Counter, int]:
    """Outcomes of the token's restart rows in the audit trail, and the refusals the rate limit's ledger counted."""
    if server.database == "postgres":
        rows = list(AuditEvent.objects.filter(action="container.restart", token_name=token_name).values_list("outcome"))
        counted = RestartAttempt.objects.filter(token__name=token_name, outcome="refused").count()
    else:
        path = server.env["DATABASE_URL"].removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT outcome FROM audit_event WHERE action = 'container.restart' AND token_name = ?",
                              (token_name,)).fetchall()  # fmt: skip
            counted = db.execute("SELECT count(*) FROM walletops_restart_attempt a JOIN walletops_api_token t ON "
                                 "t.id = a.token_id WHERE t.name = ? AND a.outcome = 'refused'",
                                 (token_name,)).fetchone()[0]  # fmt: skip
    return Counter(outcome for (outcome,) in rows), counted


def _all_at_once(url: str, secret: str, count: int = AT_ONCE) -> Counter:
    """``count`` restart POSTs released together; the tally of their status codes."""
    barrier = threading.Barrier(count)

    def post(_):
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(f"{url}{URL}/{WORKER}/restart", json={"timeout": 0},
                               headers={"Authorization": f"Bearer {secret}"}).status_code  # fmt: skip

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(post, range(count)))


def test_fifteen_simultaneous_restarts_with_a_limit_of_five_restart_exactly_five(served):
    secret = served.manage("create_api_token", "--name", "burst", "--scopes", "read,restart").strip()
    statuses = _all_at_once(served.url, secret)
    # Exactly five are admitted. Five restarts of one container at once can make a busy engine answer one of
    # them with a server error (503 docker_unavailable, audited as failed): that is the engine, not the limit,
    # and the attempt still counts against it.
    admitted = statuses[HTTPStatus.OK] + statuses[HTTPStatus.SERVICE_UNAVAILABLE]
    assert statuses[HTTPStatus.TOO_MANY_REQUESTS] == 10 and admitted == 5 and statuses[HTTPStatus.OK] >= 3, statuses
    assert set(statuses) <= {HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS}, statuses
    outcomes, counted = _audit(served, "burst")
    assert outcomes["refused"] == 10 and counted == 10, outcomes
    assert outcomes["ok"] == statuses[HTTPStatus.OK], outcomes
    assert outcomes["failed"] == statuses[HTTPStatus.SERVICE_UNAVAILABLE], outcomes
    # Fifteen rows written at once by the server's processes: one chain still.
    assert served.manage("audit_verify").startswith("OK: "), "the audit chain broke under concurrent writers"


def test_fifteen_simultaneous_refusals_write_ten_audit_rows_and_count_the_rest(served):
    secret = served.manage("create_api_token", "--name", "reader", "--scopes", "read").strip()
    statuses = _all_at_once(served.url, secret)
    assert statuses == {HTTPStatus.FORBIDDEN: 10, HTTPStatus.TOO_MANY_REQUESTS: 5}, statuses
    outcomes, counted = _audit(served, "reader")
    assert outcomes == {"refused": 10} and counted == 15, outcomes


# --- The same rules in one process (fast, both databases) ---------------------------------------------


@pytest.mark.django_db
def test_refusals_past_the_limit_answer_429_without_a_row(api_client, settings):
    settings.WALLETOPS_REFUSALS_PER_MINUTE = 3
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='r', scopes=['read']).secret}")
    statuses = [api_client.post(f"{URL}/{WORKER}/restart").status_code for _ in range(8)]
    assert statuses == [403] * 3 + [429] * 5
    assert list(AuditEvent.objects.values_list("outcome", flat=True)) == ["refused"] * 3
    assert RestartAttempt.objects.filter(outcome="refused").count() == 8  # the ledger counts every one
    other = api_token_create(name="other", scopes=["read"]).secret  # the limit is per token
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    assert api_client.post(f"{URL}/{WORKER}/restart").status_code == HTTPStatus.FORBIDDEN


@pytest.mark.django_db
def test_a_portal_users_refusals_are_limited_too(client, settings):
    settings.WALLETOPS_REFUSALS_PER_MINUTE = 2
    user = User.objects.create_user("looker", is_staff=True)
    client.force_login(user)
    page = f"/admin/ops/containers/{WORKER}/restart/"
    statuses = [client.post(page, {"confirm_name": WORKER, "timeout": 0}).status_code for _ in range(5)]
    assert statuses == [403, 403, 429, 429, 429]
    rows = list(AuditEvent.objects.order_by("pk").values_list("actor", "action", "outcome"))
    assert rows == [("looker", "container.restart", "refused")] * 2
    assert list(RestartAttempt.objects.order_by().values_list("actor", "outcome").distinct()) == [("looker", "refused")]
    assert RestartAttempt.objects.count() == 5


@pytest.mark.django_db
def test_in_flight_restarts_count_against_the_limit(api_client, settings):
    """An admitted attempt (a restart still running elsewhere) takes its place in the minute's count."""
    settings.WALLETOPS_RESTARTS_PER_MINUTE = 2
    issued = api_token_create(name="busy", scopes=["read", "containers:restart"])
    for _ in range(2):
        RestartAttempt.objects.create(actor="ci", token=issued.token, outcome="admitted")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    response = api_client.post(f"{URL}/{WORKER}/restart")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json() == {"code": "throttled", "detail": "more than 2 restarts a minute with this token"}


@pytest.mark.django_db
def test_a_restart_admitted_is_counted_before_the_engine_is_called_and_recorded_after(
    api_client, monkeypatch, fleet_settings
):
    from walletops.clients import docker as engine

    seen = []

    def restart(url, container_id, *, timeout):
        seen.append((list(RestartAttempt.objects.values_list("outcome", flat=True)), AuditEvent.objects.count()))

    monkeypatch.setattr(engine, "container_restart", restart)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='x', scopes=['read', 'restart']).secret}")
    assert api_client.post(f"{URL}/{WORKER}/restart", {"timeout": 0}, format="json").status_code == HTTPStatus.OK
    assert seen == [(["admitted"], 0)]
    assert AuditEvent.objects.get().outcome == "ok"


def test_two_concurrent_retries_with_one_idempotency_key_restart_once_and_answer_alike(served):
    """The second of two simultaneous requests with one key waits for the first and answers its outcome."""
    secret = served.manage("create_api_token", "--name", "retry", "--scopes", "read,containers:restart").strip()
    barrier = threading.Barrier(2)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "deploy-42"}

    def post(_):
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            return client.post(f"{served.url}{URL}/{WORKER}/restart", json={"timeout": 0}, headers=headers)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(post, range(2)))
    assert [answer.status_code for answer in answers] == [HTTPStatus.OK, HTTPStatus.OK], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert sorted(answer.headers.get("Idempotent-Replayed", "") for answer in answers) == ["", "true"]
    outcomes, _ = _audit(served, "retry")
    assert outcomes == Counter({"ok": 1}), outcomes
