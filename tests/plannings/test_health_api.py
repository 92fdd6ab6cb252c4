"""``GET /api/ops/plannings``: the x-ops-token rules in production and not, and the payload over HTTP."""

import json
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from tests import factories
from tests.plannings.helpers import GOLDEN_FULL, GOLDEN_NOW, full_world

URL = "/api/ops/plannings"
NOT_FOUND = {"error": "NOT_FOUND"}
pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.IS_PRODUCTION = True
    return settings


def _get(client, token=None):
    headers = {} if token is None else {"x-ops-token": token}
    return client.get(URL, headers=headers)


def test_it_is_open_outside_production_without_a_token(api_client, settings):
    settings.OPS_TOKEN = ""
    response = _get(api_client)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "unhealthy"


def test_outside_production_a_configured_token_is_required(api_client, settings):
    settings.OPS_TOKEN = "s3cret-token"
    assert _get(api_client, "s3cret-token").status_code == HTTPStatus.OK
    for refused in (None, "", "wrong", "s3cret-token ", "S3CRET-TOKEN", "s3cret-toke"):
        response = _get(api_client, refused)
        assert response.status_code == HTTPStatus.NOT_FOUND, refused
        assert response.json() == NOT_FOUND


def test_production_without_a_token_refuses_everyone(api_client, production):
    production.OPS_TOKEN = ""
    for attempt in (None, "", "anything"):
        response = _get(api_client, attempt)
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert response.json() == NOT_FOUND


def test_production_with_a_token_accepts_only_that_token(api_client, production):
    production.OPS_TOKEN = "prod-token"
    assert _get(api_client, "prod-token").status_code == HTTPStatus.OK
    assert _get(api_client, "prod-tokem").status_code == HTTPStatus.NOT_FOUND
    assert _get(api_client).status_code == HTTPStatus.NOT_FOUND


def test_missing_and_wrong_tokens_are_refused_identically(api_client, production):
    production.OPS_TOKEN = "prod-token"
    missing, wrong = _get(api_client), _get(api_client, "nope")
    assert missing.status_code == wrong.status_code == HTTPStatus.NOT_FOUND
    assert missing.content == wrong.content
    assert dict(missing.headers) == dict(wrong.headers)


def test_a_non_ascii_token_is_refused_not_crashed(api_client, settings):
    settings.OPS_TOKEN = "tok"
    response = api_client.get(URL, HTTP_X_OPS_TOKEN="t\u00f6k")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_refused_callers_learn_nothing_about_methods(api_client, settings):
    settings.OPS_TOKEN = "tok"
    assert api_client.post(URL).status_code == HTTPStatus.NOT_FOUND
    assert api_client.post(URL, headers={"x-ops-token": "tok"}).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_it_returns_every_field_of_the_spec(api_client, settings):
    settings.OPS_TOKEN = ""
    factories.both_jobs_running("idle")
    planning = factories.planning_make("enscr.cycle.group")
    factories.backup_make(planning)
    body = _get(api_client).json()
    assert set(body) == {
        "status",
        "issues",
        "workers",
        "inQuietHours",
        "queue",
        "backups",
        "lastBackupWrite",
        "failedHosts",
        "recentFailures",
    }
    assert body["backups"] == {"total": 1, "covered": 1, "disabled": 0}
    assert body["workers"] == {"backfill": "idle", "refreshWorker": "idle"}
    assert body["failedHosts"] is None and body["recentFailures"] is None


GOLDEN_EMPTY = (
    b'{"status":"healthy","issues":[],"workers":{"backfill":"idle","refreshWorker":"idle"},"inQuietHours":false,'
    b'"queue":{"depth":0,"ready":0,"locked":0},"backups":{"total":0,"covered":0,"disabled":0},'
    b'"lastBackupWrite":null,"failedHosts":null,"recentFailures":null}'
)


def _empty_world() -> None:
    """Nothing to report: no issues, no write yet, and null (not []) for the lists."""
    factories.both_jobs_running("idle")


@pytest.mark.parametrize(("world", "golden"), [(full_world, GOLDEN_FULL), (_empty_world, GOLDEN_EMPTY)])
def test_the_body_and_the_command_are_byte_identical_to_the_recorded_ones(api_client, settings, world, golden):
    settings.OPS_TOKEN = ""
    with time_machine.travel(GOLDEN_NOW if world is full_world else GOLDEN_NOW - timedelta(hours=8), tick=False):
        world()
        body = _get(api_client).content
        out = StringIO()
        with pytest.raises(SystemExit):
            call_command("ops_health", stdout=out)
    assert body == golden
    assert out.getvalue() == json.dumps(json.loads(golden), indent=2, ensure_ascii=False) + "\n"
