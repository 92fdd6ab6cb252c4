"""gunicorn's own refusals, under the Procfile's web line with production settings, are the JSON error shape.

gunicorn answers these before Django sees the request; they were HTML pages. Each is sent on a
raw socket, as a client would that gunicorn cannot parse.
"""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from scripts.servers.postgres import free_port
from tests.opsportal.helpers import OPS_TOKEN, SECRET
from tests.walletops.helpers import procfile_web_command

ROOT = Path(__file__).resolve().parents[2]
API = b"/api/v1/admin/ops/containers"
# gunicorn runs on a SQLite file of its own, whatever the pass's database: one pass tests it all.
pytestmark = pytest.mark.database_agnostic


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """The Procfile's web line (its --config included) on a free loopback port, one process of 4 threads."""
    var = tmp_path_factory.mktemp("gunicorn-var")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings", DJANGO_ENV="production", DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1", OPSPORTAL_BASE_URL="http://127.0.0.1",
        DATABASE_URL=f"sqlite:///{var / 'db.sqlite3'}", OPSPORTAL_VAR_DIR=str(var),
        OPS_TOKEN=OPS_TOKEN, PORT=str(port), WEB_CONCURRENCY="1", WEB_THREADS="4",
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    )  # fmt: skip
    command = procfile_web_command(env).replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
    server = subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/up", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "gunicorn did not answer /up within 60 s"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is; read the answer to the end (gunicorn closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET " + API + b"?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "uri_too_long"),
        (b"GET " + API + b"/caf\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "bad_request"),
        (b"GET " + API + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431,
         "headers_too_large"),
        (b"GET " + API + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200))
         + b"\r\n", 431, "headers_too_large"),
    ],
    ids=["request-line-over-4094-bytes", "raw-non-ascii", "100KB-header", "200-headers"],
)  # fmt: skip
def test_gunicorns_refusals_are_the_json_error_shape(gunicorn, request_bytes, status, code):
    answer_status, headers, body = _raw(gunicorn, request_bytes)
    assert answer_status == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    document = json.loads(body)
    assert set(document) == {"code", "detail"} and document["code"] == code and document["detail"]
    assert "default-src 'none'" in headers["content-security-policy"]


def test_the_application_still_answers_behind_it(gunicorn):
    https = b"X-Forwarded-Proto: https\r\n"  # as kamal-proxy forwards it
    status, headers, body = _raw(gunicorn, b"GET " + API + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + https
                                 + b"Connection: close\r\n\r\n")  # fmt: skip
    assert status == 401 and json.loads(body)["code"] == "unauthorized"
    assert "'self'" in headers["content-security-policy"]  # Django's own answer, the portal's policy
