"""The Kamal hook's events: the endpoint (scope ``deploys:write``) and the project's real hook scripts run
against a live portal, one that refuses, and one that never answers."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from walletops.models import DeployHookEvent

ROOT = Path(__file__).resolve().parents[2]
EVENTS = "/api/v1/admin/ops/deploys/events"
KAMAL = {
    "KAMAL_RECORDED_AT": "2026-12-07T18:00:00Z", "KAMAL_PERFORMER": "ana@example.com", "KAMAL_SERVICE": "wallet-core",
    "KAMAL_DESTINATION": "production", "KAMAL_VERSION": "4f1c2e9", "KAMAL_SERVICE_VERSION": "wallet-core@4f1c2e9",
    "KAMAL_HOSTS": "web-1,web-2,worker-1", "KAMAL_LOCK": "false", "KAMAL_COMMAND": "deploy", "KAMAL_RUNTIME": "93",
}  # fmt: skip


def _staff():
    """A person who may stand behind the hook's token (``deploys:write`` needs record_deploy_events)."""
    user = User.objects.create(username="deployer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="record_deploy_events"))
    return user


def _hook(name: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "WALLETOPS_DEPLOY_INFO_PATH": str(tmp_path / "deploy_info.json"), **env}
    return subprocess.run([str(ROOT / "walletops" / "kamal_hooks" / name)], env=environment, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)  # fmt: skip


@pytest.mark.django_db
def test_the_endpoint_wants_the_deploys_write_scope(api_client, token_for):
    owner = _staff()
    reader = token_for("read", owner=owner)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    response = api_client.post(EVENTS, {"hook": "post-deploy", "variables": KAMAL}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    writer = token_for("deploys:write", owner=owner, name="kamal-hook")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    first = api_client.post(EVENTS, {"hook": "post-deploy", "variables": KAMAL}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["hosts"] == ["web-1", "web-2", "worker-1"] and first.json()["runtime_seconds"] == 93
    again = api_client.post(EVENTS, {"hook": "post-deploy", "variables": KAMAL}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    late = {"hook": "post-deploy", "variables": {**KAMAL, "KAMAL_RUNTIME": "soon"}}
    bad = api_client.post(EVENTS, late, format="json")
    assert bad.status_code == 400 and bad.json()["detail"].startswith("variables: KAMAL_RUNTIME")
    assert DeployHookEvent.objects.get().token_name == "kamal-hook"


@pytest.mark.django_db(transaction=True)
def test_the_real_hooks_post_to_a_live_portal_and_never_send_secrets(live_server, token_for, tmp_path):
    token = token_for("deploys:write", owner=_staff())
    env = {"OPSPORTAL_HOOK_URL": live_server.url, "OPSPORTAL_HOOK_TOKEN": token, "DATABASE_PASSWORD": "s3cret"}
    pre = _hook("pre-deploy", tmp_path, **env, **{**KAMAL, "KAMAL_LOCK": "true", "KAMAL_RUNTIME": ""})
    assert pre.returncode == 0 and "the portal recorded it (201)" in pre.stderr, pre.stderr
    post = _hook("post-deploy", tmp_path, **env, **{**KAMAL, "KAMAL_RECORDED_AT": "2026-12-07T18:01:33Z"})
    assert post.returncode == 0 and "the portal recorded it (201)" in post.stderr, post.stderr
    assert (tmp_path / "deploy_info.json").exists()  # the hook still writes deploy_info.json
    again = _hook("post-deploy", tmp_path, **env, **{**KAMAL, "KAMAL_RECORDED_AT": "2026-12-07T18:01:33Z"})
    assert "the portal recorded it (201)" in again.stderr  # the first answer, replayed (Idempotency-Key)
    events = list(DeployHookEvent.objects.order_by("recorded_at").values("hook", "lock", "runtime_seconds"))
    assert events == [
        {"hook": "pre-deploy", "lock": True, "runtime_seconds": None},
        {"hook": "post-deploy", "lock": False, "runtime_seconds": 93},
    ]
    assert "s3cret" not in str(list(DeployHookEvent.objects.values()))


@pytest.mark.django_db(transaction=True)
def test_a_refusing_portal_does_not_fail_the_deploy(live_server, tmp_path):
    run = _hook("post-deploy", tmp_path, OPSPORTAL_HOOK_URL=live_server.url, OPSPORTAL_HOOK_TOKEN="wrong", **KAMAL)
    assert run.returncode == 0 and "the portal refused it (401" in run.stderr, run.stderr


def test_a_portal_that_never_answers_is_waited_on_a_bounded_time(tmp_path):
    # A socket that listens and never accepts: the connection hangs, as behind a dead proxy.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        run = _hook("pre-deploy", tmp_path, OPSPORTAL_HOOK_URL=url, OPSPORTAL_HOOK_WAIT_SECONDS="1", **KAMAL)
    assert run.returncode == 0, run.stderr
    assert "the portal did not answer" in run.stderr and "the deploy goes on" in run.stderr


def test_without_a_portal_url_the_hook_says_so_and_goes_on(tmp_path):
    run = _hook("pre-deploy", tmp_path, **KAMAL)
    assert run.returncode == 0 and "OPSPORTAL_HOOK_URL is not set" in run.stderr
