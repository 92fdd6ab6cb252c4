"""The OpenAPI schema: valid without warnings, served to staff, and true to what the endpoints answer."""

import json
from http import HTTPStatus

import pytest
import yaml

from tests import factories
from tests.opsportal.helpers import openapi_schema, schema_validator

pytestmark = pytest.mark.django_db


# The operator's actions (issue 21): each operation and the error statuses it documents besides 401 and 403;
# every one is a POST, so Idempotency-Key's 400, 409, 413 and 422 too.
KEYED = {400, 409, 413, 422}
ACTIONS = {
    "planning_refresh": {404, 429}, "planning_reenable": {404}, "planning_release_lock": {404},
    "planning_retry": {404}, "plannings_bulk": set(), "jobs_pause": set(), "jobs_resume": set(),
    "jobs_backfill": {503}, "jobs_drain": {503}, "alert_acknowledge": {404}, "alert_unacknowledge": {404},
    "alert_mute": {404}, "alert_unmute": {404}, "alert_channel_test": {404},
}  # fmt: skip


def test_each_action_documents_its_refusals_in_the_error_shape():
    schema = openapi_schema()
    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}
    for operation_id, statuses in ACTIONS.items():
        responses = operations[operation_id]["responses"]
        assert set(responses) == {"200", "401", "403", *map(str, KEYED | statuses)}, operation_id
        for status in ("403", *map(str, KEYED | statuses)):
            error = responses[status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, (operation_id, status)
        assert operations[operation_id]["security"] == [{"bearerToken": []}], operation_id
        headers = [p["name"] for p in operations[operation_id]["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], operation_id


def test_the_schema_validates_without_warnings_and_covers_every_endpoint():
    schema = openapi_schema()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert operations == {
        "plannings_health", "containers_list", "container_detail", "container_logs", "container_health_check",
        "container_health_check_run",
        "container_restart", "queues", "hosts", "deploy_info", "metrics", "audit_list", "alerts_list", "logs_merged",
        "maintenance_list", "plannings_list", *ACTIONS, "deploy_event_record", "deploys_list", "deploys_drift",
    }  # fmt: skip
    assert schema["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http", "scheme": "bearer", "description": "an opsportal API token (wo_…)",
    }  # fmt: skip
    assert schema["components"]["securitySchemes"]["opsToken"]["name"] == "x-ops-token"
    containers = schema["paths"]["/api/v1/admin/ops/containers"]["get"]
    assert {p["name"] for p in containers["parameters"]} == {"env", "include_accessories", "include_stats"}
    assert containers["security"] == [{"bearerToken": []}]


def test_the_health_payload_matches_its_schema():
    schema = openapi_schema()
    factories.both_jobs_running()
    planning = factories.planning_make("s.a")
    factories.backup_make(planning)
    from plannings.health import health_report
    from plannings.web.serializers import health_json

    schema_validator(schema, "PlanningsHealth").validate(json.loads(json.dumps(health_json(health_report()))))


def test_the_error_shape_and_deploy_info_match_their_schemas(api_client, settings, tmp_path, token_for):
    schema = openapi_schema()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "missing.json"
    schema_validator(schema, "Error").validate(api_client.get("/api/v1/admin/ops/deploy-info").json())
    (tmp_path / "ok.json").write_text(json.dumps(
        {"current_tag": "v2", "previous_tag": "v1", "commit_sha": "abc", "deployed_by": "ci",
         "deployed_at": "2026-11-23T10:00:00Z"}
    ))  # fmt: skip
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "ok.json"
    schema_validator(schema, "DeployInfo").validate(api_client.get("/api/v1/admin/ops/deploy-info").json())


def test_schema_and_docs_are_for_staff(client, admin_client):
    assert client.get("/api/schema/").status_code in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}
    response = admin_client.get("/api/schema/")
    assert response.status_code == HTTPStatus.OK
    assert yaml.safe_load(response.content)["info"]["title"] == "opsportal API"
    docs = admin_client.get("/api/docs/")
    assert docs.status_code == HTTPStatus.OK and b"swagger-ui" in docs.content
