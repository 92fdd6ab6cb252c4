"""Container restarts and health checks in the one audit trail, on the private Docker engines: one row per attempt
beside the restart ledger, refused ones too (but none past the refusal limit), with the token and its owner."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission, User

from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from walletops.models import RestartAudit

URL = "/api/v1/admin/ops/containers"
PAGES = "/admin/ops/containers/"
WORKER = "wallet-core-production-worker-def5678"
WEB = "wallet-core-staging-web-abc1234"
pytestmark = pytest.mark.django_db


def _bearer(api_client, secret: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


def _staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def _events():
    return list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "actor", "via", "token_name"))


def test_a_restart_through_the_api_is_one_audit_row_beside_its_restart_row(api_client, fleet_settings):
    owner = _staff("deployer", "restart_container")
    client = _bearer(api_client, api_token_create(name="ci", scopes=["read", "restart"], owner=owner).secret)
    assert client.post(f"{URL}/{WORKER}/restart", {"timeout": 1}, format="json").status_code == HTTPStatus.OK
    assert RestartAudit.objects.get().outcome == "restarted"
    event = AuditEvent.objects.get()
    assert _events() == [("container.restart", "ok", "deployer", "api", "ci")]
    assert (event.target_type, event.targets, event.changed) == ("container", [WORKER], 1)
    assert event.detail.startswith("env production: restarted in ")


def test_refused_restarts_are_audited_until_the_refusal_limit_then_not_at_all(api_client, fleet_settings, settings):
    settings.WALLETOPS_REFUSALS_PER_MINUTE = 2
    client = _bearer(api_client, api_token_create(name="reader", scopes=["read"]).secret)
    statuses = [client.post(f"{URL}/{WORKER}/restart").status_code for _ in range(4)]
    assert statuses == [HTTPStatus.FORBIDDEN] * 2 + [HTTPStatus.TOO_MANY_REQUESTS] * 2
    assert _events() == [("container.restart", "refused", "reader", "api", "reader")] * 2
    assert "lacks the 'containers:restart' scope" in AuditEvent.objects.first().detail
    assert RestartAudit.objects.get(repeats=2)  # the restart ledger counts the unrowed ones


def test_a_restart_that_fails_is_audited_as_failed(client, settings, tmp_path):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/no-docker.sock"], "production": []}
    client.force_login(_staff("ana", "restart_container"))
    response = client.post(f"{PAGES}{WORKER}/restart/", {"confirm_name": WORKER, "timeout": 1})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert _events() == [("container.restart", "failed", "ana", "portal", "")]
    assert RestartAudit.objects.get().outcome == "failed"


def test_health_checks_run_from_the_portal_and_the_api_are_audited(client, api_client, fleet_settings):
    client.force_login(_staff("ana", "run_health_check"))
    assert b"ops-badge-healthy" in client.post(f"{PAGES}{WEB}/health-check/").content
    _bearer(api_client, api_token_create(name="probe", scopes=["read", "containers:check"]).secret)
    assert api_client.get(f"{URL}/{WEB}/health-check").json()["status"] == "healthy"
    assert _events() == [
        ("container.health_check", "ok", "ana", "portal", ""),
        ("container.health_check", "ok", "probe", "api", "probe"),
    ]
    assert AuditEvent.objects.first().detail.startswith("env staging: healthy, exit code 0")


def test_health_checks_are_refused_without_the_permission_and_audited(client, api_client, fleet_settings):
    client.force_login(_staff("looker"))
    assert client.post(f"{PAGES}{WEB}/health-check/").status_code == HTTPStatus.FORBIDDEN
    viewer = _staff("viewer")
    _bearer(api_client, api_token_create(name="mine", scopes=["read", "containers:check"], owner=viewer).secret)
    response = api_client.get(f"{URL}/{WEB}/health-check")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {
        "code": "forbidden",
        "detail": "this token's owner viewer lacks walletops.run_health_check",
    }
    assert _events() == [
        ("container.health_check", "refused", "looker", "portal", ""),
        ("container.health_check", "refused", "viewer", "api", "mine"),
    ]


def test_a_read_token_runs_no_health_check_a_command_in_the_container(api_client, fleet_settings):
    """``containers:check`` is the scope of a health check; ``read`` only looks (refused and audited)."""
    _bearer(api_client, api_token_create(name="grafana", scopes=["read"]).secret)
    response = api_client.get(f"{URL}/{WEB}/health-check")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["detail"] == "this token lacks the 'containers:check' scope"
    assert _events() == [("container.health_check", "refused", "grafana", "api", "grafana")]


def test_a_health_check_of_a_missing_container_is_audited_as_failed(api_client, fleet_settings):
    _bearer(api_client, api_token_create(name="probe", scopes=["read", "containers:check"]).secret)
    assert api_client.get(f"{URL}/wallet-core-staging-nope-1/health-check").status_code == HTTPStatus.NOT_FOUND
    event = AuditEvent.objects.get()
    assert (event.outcome, event.targets) == ("failed", ["wallet-core-staging-nope-1"])
    assert "container_not_found" in event.detail
