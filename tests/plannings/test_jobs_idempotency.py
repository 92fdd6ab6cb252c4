"""``Idempotency-Key`` on the jobs' pause: two simultaneous retries with one key pause once and answer alike,
against the portal served in its own process (threaded: the two requests really overlap), on a SQLite
file and on PostgreSQL. Each pause writes one audit row, so the trail counts how many times it acted."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from scripts.servers.portal import PortalDevServer
from tests.conftest import _server_or_skip

ROOT = Path(__file__).resolve().parents[2]
OPS = "/api/v1/admin/ops"


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(
    params=[
        # Its own SQLite file whatever the pass's database: the SQLite pass would run it again as is.
        pytest.param("sqlite", marks=pytest.mark.database_agnostic),
        pytest.param("postgres", marks=[pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]),
    ]
)
def portal(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_", "WALLETOPS_"))}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_ENV="test", OPSPORTAL_VAR_DIR=str(tmp_path),
               CELERY_BROKER_URL=f"filesystem://{tmp_path}", JOBS_QUIET_HOURS="off")  # fmt: skip
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("live_database_url")
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        _manage(env, "migrate", "--noinput")
    server = _server_or_skip(lambda: PortalDevServer(env).start())
    server.env = env
    yield server
    server.stop()


def test_two_concurrent_retries_of_a_pause_with_one_key_pause_once_and_answer_alike(portal):
    script = _manage(portal.env, "create_api_token", "--name", "maintenance", "--scopes", "jobs:control")
    reader = _manage(portal.env, "create_api_token", "--name", "reader", "--scopes", "read")
    barrier = threading.Barrier(2)
    headers = {"Authorization": f"Bearer {script}", "Idempotency-Key": "maintenance-2026-12-07"}

    def pause(_):
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            return client.post(f"{portal.url}{OPS}/jobs/pause", headers=headers)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(pause, range(2)))

    assert [answer.status_code for answer in answers] == [HTTPStatus.OK] * 2, [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["changed"] is True  # both say what the one pause did
    assert sorted(answer.headers.get("Idempotent-Replayed", "") for answer in answers) == ["", "true"]
    page = httpx.get(f"{portal.url}{OPS}/audit", params={"action": "jobs.pause"},
                     headers={"Authorization": f"Bearer {reader}"}, timeout=30).json()  # fmt: skip
    trail = page.get("results", page.get("events"))
    assert [(event["token_name"], event["changed"]) for event in trail] == [("maintenance", 1)]
