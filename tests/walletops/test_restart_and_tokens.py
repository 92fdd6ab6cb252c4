"""Restarts (scope, protection, audit) and the token rules, on the private engines."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from opsportal.api.models import ApiToken
from walletops.models import RestartAudit

URL = "/api/v1/admin/ops/containers"
pytestmark = pytest.mark.django_db


def _client(api_client, secret):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


def test_a_restart_moves_the_start_time_and_is_audited(api_client, token_for, fleet_settings):
    client = _client(api_client, token_for("read", "restart", name="deployer"))
    name = "wallet-core-production-worker-def5678"
    before = client.get(f"{URL}/{name}").json()["started_at"]
    response = client.post(f"{URL}/{name}/restart", {"timeout": 1}, format="json")
    assert response.status_code == HTTPStatus.OK, response.content
    after = response.json()
    assert after["status"] == "running" and after["started_at"] > before
    audit = RestartAudit.objects.get()
    assert (audit.container, audit.env, audit.outcome, audit.token_name) == (
        name,
        "production",
        "restarted",
        "deployer",
    )


def test_a_token_without_the_restart_scope_is_refused_and_audited(api_client, token_for, fleet_settings):
    client = _client(api_client, token_for("read"))
    response = client.post(f"{URL}/wallet-core-production-worker-def5678/restart")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "forbidden"
    assert RestartAudit.objects.get().outcome == "refused"


def test_a_protected_container_is_refused_and_audited(api_client, token_for, fleet_settings, settings):
    settings.WALLETOPS_PROTECTED_CONTAINERS = ["wallet-core-staging-web-*"]
    client = _client(api_client, token_for("read", "restart"))
    response = client.post(f"{URL}/wallet-core-staging-web-abc1234/restart")
    assert response.status_code == HTTPStatus.FORBIDDEN
    audit = RestartAudit.objects.get()
    assert (audit.outcome, audit.container) == ("refused", "wallet-core-staging-web-abc1234")
    assert "protected" in audit.detail


@pytest.mark.parametrize("body", [{"timeout": -1}, {"timeout": "soon"}, {"timeout": 301}])
def test_a_bad_restart_timeout_is_400(api_client, token_for, fleet_settings, body):
    client = _client(api_client, token_for("read", "restart"))
    response = client.post(f"{URL}/wallet-core-production-worker-def5678/restart", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("timeout:")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Token abc", "Bearer wo_nothere_secret", "Bearer not-a-token", "Basic dXNlcjpwYXNz"],
)
def test_missing_malformed_or_unknown_tokens_are_401(api_client, header, fleet_settings):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(URL)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "unauthorized"


def test_expired_and_revoked_tokens_are_401_and_use_is_recorded(api_client, token_for, fleet_settings):
    from opsportal.api.tokens import api_token_revoke

    expired = token_for("read", expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(api_client, expired).get(URL).status_code == HTTPStatus.UNAUTHORIZED
    secret = token_for("read", name="live")
    assert _client(api_client, secret).get(URL).status_code == HTTPStatus.OK
    token = ApiToken.objects.get(name="live")
    assert token.last_used_at is not None
    api_token_revoke(token=token)
    assert _client(api_client, secret).get(URL).status_code == HTTPStatus.UNAUTHORIZED


def test_tokens_are_stored_hashed(token_for):
    secret = token_for("read", name="hashed")
    token = ApiToken.objects.get(name="hashed")
    assert secret not in (token.secret_hash, token.prefix) and len(token.secret_hash) == 64
    assert secret.startswith(f"wo_{token.prefix}_")


def test_create_api_token_prints_the_secret_once(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "--name", "cli", "--scopes", "read,restart", stdout=out, stderr=StringIO())
    token = ApiToken.objects.get(name="cli")
    assert out.getvalue().strip().startswith(f"wo_{token.prefix}_")
    assert token.scope_list == ["read", "containers:restart"]
    assert (token.owner, token.created_by) == (None, None)  # a machine token, from the command line


def test_one_engine_down_degrades_only_its_part_then_recovers(reader, fleet_settings):
    production = fleet_settings.engines["production"]
    production.stop()
    try:
        response = reader.get(URL)
        assert response.status_code == HTTPStatus.OK
        assert all(name.startswith("wallet-core-staging") for name in [c["name"] for c in response.json()])
        assert fleet_settings.production_url in response.headers["X-Docker-Unavailable"]
        down = reader.get(URL, {"env": "production"})
        assert down.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert down.json()["code"] == "docker_unavailable"
        assert fleet_settings.production_url in down.json()["detail"]
    finally:
        production.start()
    recovered = reader.get(URL, {"env": "production"})
    assert recovered.status_code == HTTPStatus.OK
    assert len(recovered.json()) == 2


def test_restarts_are_rate_limited_per_token_and_the_refusal_is_audited(
    api_client, token_for, fleet_settings, settings
):
    from opsportal.api.models import ApiToken

    settings.WALLETOPS_RESTARTS_PER_MINUTE = 2
    secret = token_for("read", "restart", name="busy")
    token = ApiToken.objects.get(name="busy")
    # Two attempts this minute already, as the audit trail records them: one done, one still in flight.
    for outcome in ("restarted", "started"):
        RestartAudit.objects.create(actor="ci", token=token, env="production", container="x", outcome=outcome)
    client = _client(api_client, secret)
    response = client.post(f"{URL}/wallet-core-production-worker-def5678/restart")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "throttled"
    assert RestartAudit.objects.filter(token=token, outcome="refused").count() == 1
    other = _client(api_client, token_for("read", "restart", name="calm"))
    assert other.post(f"{URL}/wallet-core-production-worker-def5678/restart").status_code == HTTPStatus.OK
