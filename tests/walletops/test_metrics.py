"""``/metrics``: the portal's figures in Prometheus's text format, and who may scrape them."""

from http import HTTPStatus

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsportal.lib import accounting
from scripts.servers.postgres import free_port
from tests import factories

pytestmark = pytest.mark.django_db


def _samples(response) -> dict[tuple, float]:
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def broker_down(monkeypatch):
    from opsportal.celery import app

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")


def test_it_exposes_health_queue_backups_and_job_counters(client, settings, redis_server, broker_down):
    import redis

    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_server.url
    redis.Redis.from_url(redis_server.url).flushdb()
    planning = factories.planning_make("s.a")
    factories.backup_make(planning)
    factories.queue_item_make(factories.planning_make("s.b"))
    factories.both_jobs_running()
    accounting.outcomes_record(queue="payouts", succeeded=4, failures=[("j", "boom")])
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response)
    assert samples[("opsportal_plannings_health_status", (("status", "healthy"),))] == 1
    assert samples[("opsportal_plannings_health_status", (("status", "unhealthy"),))] == 0
    assert samples[("opsportal_plannings_backups", (("kind", "total"),))] == 2
    assert samples[("opsportal_plannings_backups", (("kind", "covered"),))] == 1
    assert samples[("opsportal_plannings_refresh_queue", (("state", "depth"),))] == 1
    assert samples[("opsportal_jobs_processed_total", (("queue", "payouts"),))] == 5
    assert samples[("opsportal_jobs_failed_total", (("queue", "payouts"),))] == 1
    assert samples[("opsportal_queue_failures_last_hour", (("queue", "payouts"),))] == 1
    assert samples[("opsportal_source_up", (("source", "broker"),))] == 0  # the broker is down here
    assert samples[("opsportal_source_up", (("source", "accounting"),))] == 1
    assert samples[("opsportal_queue_depth", (("kind", "runner"), ("queue", "plannings_refresh")))] == 1


def test_other_addresses_need_a_read_token(api_client, settings, broker_down):
    settings.OPSPORTAL_METRICS_ALLOWED_IPS = ["10.9.9.9"]
    anonymous = api_client.get("/metrics")
    assert anonymous.status_code == HTTPStatus.UNAUTHORIZED and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json() == {"code": "unauthorized", "detail": "scrape from an allowed address or with a read token"}
    from opsportal.api.tokens import api_token_create

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='w', scopes=['restart']).secret}")
    assert api_client.get("/metrics").status_code == HTTPStatus.FORBIDDEN  # a token, but without read

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='prom', scopes=['read']).secret}")
    assert api_client.get("/metrics").status_code == HTTPStatus.OK
    api_client.credentials(HTTP_AUTHORIZATION="Bearer wo_bad_token")
    assert api_client.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED


def test_accounting_switched_off_is_not_reported_up(client, settings, broker_down):
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = ""
    samples = _samples(client.get("/metrics"))
    assert samples[("opsportal_source_up", (("source", "accounting"),))] == 0
