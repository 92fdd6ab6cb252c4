"""``Idempotency-Key`` on the API's POSTs (opsportal/api/idempotency.py), on a restart against the private engines.

The concurrent case (two retries at once against gunicorn, SQLite and PostgreSQL) is in test_restart_limits.py.
"""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.utils import timezone

from opsportal.api.models import IdempotencyKey
from walletops.models import RestartAudit

URL = "/api/v1/admin/ops/containers/wallet-core-production-worker-def5678/restart"
pytestmark = pytest.mark.django_db


@pytest.fixture
def restarter(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'containers:restart', name='deployer')}")
    return api_client


def _restarts() -> int:
    return RestartAudit.objects.filter(outcome="restarted").count()


def test_a_retry_with_the_same_key_answers_the_first_outcome_and_acts_once(restarter, fleet_settings):
    first = restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == HTTPStatus.OK, first.content
    again = restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again.json()) == (HTTPStatus.OK, first.json())
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert _restarts() == 1
    other = restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")  # another key acts
    assert other.status_code == HTTPStatus.OK and _restarts() == 2
    without = restarter.post(URL, {"timeout": 0}, format="json")  # no key: no deduplication
    assert without.status_code == HTTPStatus.OK and _restarts() == 3


def test_the_same_key_for_another_request_is_422_in_the_error_shape(restarter, fleet_settings):
    assert restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == HTTPStatus.OK
    reused = restarter.post(URL, {"timeout": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert reused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert reused.json()["code"] == "idempotency_key_reused" and set(reused.json()) == {"code", "detail"}
    assert _restarts() == 1


def test_a_refusal_is_an_outcome_too_and_another_caller_has_its_own_keys(api_client, token_for, fleet_settings):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', name='reader')}")
    refused = api_client.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    again = api_client.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (403, refused.json(), "true")
    assert RestartAudit.objects.filter(outcome="refused").count() == 1
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'containers:restart', name='other')}")
    mine = api_client.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert mine.status_code == HTTPStatus.OK and _restarts() == 1


def test_a_key_expires_after_the_setting(restarter, fleet_settings, settings):
    settings.OPSPORTAL_API_IDEMPOTENCY_HOURS = 2
    assert restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == HTTPStatus.OK
    assert IdempotencyKey.objects.get().expires_at > timezone.now() + timedelta(hours=1, minutes=59)
    with time_machine.travel(timezone.now() + timedelta(hours=2, seconds=1)):
        later = restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert later.status_code == HTTPStatus.OK and "Idempotent-Replayed" not in later and _restarts() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "é"])
def test_a_malformed_key_is_400_naming_the_header(restarter, fleet_settings, key):
    response = restarter.post(URL, {"timeout": 0}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == HTTPStatus.BAD_REQUEST and response.json()["detail"].startswith("Idempotency-Key:")
    assert _restarts() == 0
