"""The portal served the production way: gunicorn, whitenoise static files, production settings."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scripts.servers.postgres import free_port
from tests.opsportal.helpers import OPS_TOKEN, SECRET

ROOT = Path(__file__).resolve().parents[2]
# gunicorn runs on a SQLite file of its own, whatever the pass's database: one pass tests it all.
pytestmark = pytest.mark.database_agnostic


@pytest.fixture
def production_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_ENV="production", DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1", OPSPORTAL_BASE_URL="http://127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OPSPORTAL_VAR_DIR=str(tmp_path), OPS_TOKEN=OPS_TOKEN,
    )  # fmt: skip
    return env


def test_gunicorn_serves_the_admin_static_files_and_health_in_production(production_env, tmp_path):
    static = tmp_path / "static"
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        env = {**production_env, "DJANGO_STATIC_ROOT": str(static)}
        result = subprocess.run(manage + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env={**production_env, "DJANGO_STATIC_ROOT": str(static)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/metrics", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, server.stderr.read() if server.poll() is not None else "no start"
                time.sleep(0.2)
        # Plain HTTP is redirected to HTTPS, except the monitors' endpoints.
        assert httpx.get(f"{base}/admin/login/").status_code == 301
        https = {"X-Forwarded-Proto": "https"}
        login = httpx.get(f"{base}/admin/login/", headers=https)
        assert login.status_code == 200 and "Strict-Transport-Security" in login.headers
        css = next(part.split('"')[1] for part in login.text.split("href=") if ".css" in part.split('"')[1])
        stylesheet = httpx.get(f"{base}{css}", headers=https)
        assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["content-type"]
        icon = next(part.split('"')[1] for part in login.text.split("href=") if "favicon" in part.split('"')[1])
        assert httpx.get(f"{base}{icon}", headers=https).headers["content-type"].startswith("image/svg+xml")
        assert httpx.get(f"{base}/api/ops/plannings", headers={"x-ops-token": OPS_TOKEN}).status_code == 200
        assert httpx.get(f"{base}/api/ops/plannings").status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=20)
