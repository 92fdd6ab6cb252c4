"""``GET /hosts`` against a real private Prometheus scraping two node exporters, and ``GET /deploy-info``."""

import contextlib
import json
import os
import subprocess
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HOSTS = "/api/v1/admin/ops/hosts"
DEPLOY = "/api/v1/admin/ops/deploy-info"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _hosts_when_ready(client, count: int, timeout: float = 60):
    deadline, response = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        response = client.get(HOSTS)
        ready = response.status_code == HTTPStatus.OK and len(response.json()["hosts"]) == count
        if ready and all(h["cpu_util"] is not None for h in response.json()["hosts"]):
            return response
        time.sleep(0.2)  # Prometheus scrapes every second: a ready answer is read within a fifth of one
    raise AssertionError(f"Prometheus never reported {count} hosts: {response.content[:500]!r}")


def test_hosts_come_from_node_exporter_series(reader, settings, prometheus_stack):
    server, exporters = prometheus_stack
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = server.url
    body = _hosts_when_ready(reader, 2).json()
    assert body["thresholds"] == {"cpu": 0.85, "mem": 0.85}
    assert sorted(h["instance"] for h in body["hosts"]) == sorted(e.target for e in exporters)
    node = os.uname().nodename
    for host in body["hosts"]:
        assert host["name"] == node  # node_uname_info's nodename
        assert 0 <= host["cpu_util"] <= 1 and 0 < host["mem_util"] < 1
        assert host["alert"] is (host["cpu_util"] >= 0.85 or host["mem_util"] >= 0.85)
    assert body["updated_at"].endswith("Z")


def test_thresholds_decide_the_alert(reader, settings, prometheus_stack):
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = prometheus_stack[0].url
    settings.WALLETOPS_MEM_THRESHOLD = 0.0  # any memory use alerts
    body = _hosts_when_ready(reader, 2).json()
    assert body["thresholds"]["mem"] == 0.0
    assert all(h["alert"] for h in body["hosts"])


class _Misbehaving(BaseHTTPRequestHandler):
    mode = "html"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.mode == "slow":
            time.sleep(3)
        bodies = {
            "html": (200, b"<!DOCTYPE html><html>proxy error</html>"),
            "garbage": (200, b"\x00\x01 not json"),
            "error": (400, json.dumps({"status": "error", "error": "parse error"}).encode()),
            "status-error": (200, json.dumps({"status": "error", "error": "bad query"}).encode()),
            "empty": (200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()),
            "slow": (200, b"{}"),
        }
        status, body = bodies[self.mode]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("html", "not JSON"), ("garbage", "not JSON"), ("error", "HTTP 400"), ("status-error", "bad query"),
        ("empty", "no node-exporter metrics"), ("slow", "did not answer within 1 s"),
    ],
)  # fmt: skip
def test_a_misbehaving_prometheus_is_503(reader, settings, mode, detail):
    handler = type("Handler", (_Misbehaving,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.WALLET_CORE_OPS_PROMETHEUS_URL = f"http://127.0.0.1:{server.server_address[1]}"
        settings.WALLETOPS_PROMETHEUS_TIMEOUT = 1
        response = reader.get(HOSTS)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "prometheus_unavailable"
    assert detail in response.json()["detail"]


def test_a_stopped_prometheus_is_503_then_recovers(reader, settings, prometheus_stack):
    server, _ = prometheus_stack
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = server.url
    _hosts_when_ready(reader, 2)
    server.stop()
    try:
        response = reader.get(HOSTS)
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "unreachable" in response.json()["detail"]
    finally:
        server.start()
    _hosts_when_ready(reader, 2)


# --- deploy info -------------------------------------------------------------------


def _hook(path: Path, **env) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "WALLETOPS_DEPLOY_INFO_PATH": str(path), **env}
    hook = ROOT / "walletops" / "kamal_hooks" / "post-deploy"
    return subprocess.run([str(hook)], env=environment, capture_output=True, text=True, cwd=path.parent,
                          timeout=30)  # fmt: skip


def test_the_post_deploy_hook_writes_what_the_endpoint_reads(reader, settings, tmp_path):
    path = tmp_path / "deploy_info.json"
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    first = _hook(path, KAMAL_VERSION="abc1234", KAMAL_PERFORMER="alice", KAMAL_RECORDED_AT="2026-11-23T10:00:00Z")
    assert first.returncode == 0, first.stderr
    second = _hook(path, KAMAL_VERSION="def5678", KAMAL_PERFORMER="bob", KAMAL_RECORDED_AT="2026-11-23T11:00:00Z",
                   GIT_SHA="def5678aaaabbbbcccc")  # fmt: skip
    assert second.returncode == 0, second.stderr
    _hook(path, KAMAL_VERSION="def5678", KAMAL_PERFORMER="bob", KAMAL_RECORDED_AT="2026-11-23T11:05:00Z",
          GIT_SHA="def5678aaaabbbbcccc")  # a redeploy of the same version  # fmt: skip
    response = reader.get(DEPLOY)
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "current_tag": "def5678", "previous_tag": "abc1234", "commit_sha": "def5678aaaabbbbcccc",
        "deployed_by": "bob", "deployed_at": "2026-11-23T11:05:00Z",
    }  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["deploy_info.json"]  # no temporary file left behind
    assert _hook(path).returncode == 1  # without KAMAL_VERSION nothing is recorded


def test_a_missing_file_is_404(reader, settings, tmp_path):
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "absent.json"
    response = reader.get(DEPLOY)
    assert (response.status_code, response.json()["code"]) == (HTTPStatus.NOT_FOUND, "deploy_info_missing")


GOOD = {
    "current_tag": "v1",
    "previous_tag": None,
    "commit_sha": "abc",
    "deployed_by": "ci",
    "deployed_at": "2026-11-23T10:00:00Z",
}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"current_tag": "v1", "commit', "not valid JSON"),  # truncated
        ("[1, 2]", "not a JSON object"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "commit_sha"}), "lacks commit_sha"),
        (json.dumps({**GOOD, "current_tag": 7}), "current_tag has the wrong type"),
        (json.dumps({**GOOD, "previous_tag": ["v0"]}), "previous_tag has the wrong type"),
        (json.dumps({**GOOD, "deployed_at": "yesterday"}), "not an ISO-8601 time"),
        (b"\xff\xfe\x00garbage", "unreadable"),
    ],
)
def test_a_bad_file_is_500_deploy_info_invalid(reader, settings, tmp_path, content, detail):
    path = tmp_path / "deploy_info.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    response = reader.get(DEPLOY)
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.json()["code"] == "deploy_info_invalid"
    assert detail in response.json()["detail"]


def test_an_unreadable_file_is_500(reader, settings, tmp_path):
    path = tmp_path / "deploy_info.json"
    path.mkdir()  # a directory where the file should be: reading it fails with an OS error
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    response = reader.get(DEPLOY)
    assert (response.status_code, response.json()["code"]) == (HTTPStatus.INTERNAL_SERVER_ERROR, "deploy_info_invalid")
