"""Fault: the Docker engine stops in the middle of ``GET /containers?include_stats=true``, and under a restart.

One private ``dockerd`` of this module's own (the shared fleet's engines stay up for
the other tests) runs two Kamal-shaped containers with ``restart: always``, so they
come back with the engine. A stats sample takes the engine about a second; the engine
is stopped from another thread the moment the first sample is asked for.

Documented answers (docs/architecture.md, "Choices where the spec is silent"): an engine that is down
is named in ``X-Docker-Unavailable`` while what could be read is served, and when every
engine asked is down it is 503 ``docker_unavailable``; never a 500. A restart tried
while the engine is down is 503 and audited exactly once as ``failed``.
"""

from __future__ import annotations

import threading
import time
from http import HTTPStatus

import pytest

from tests.faults.conftest import WEB, WORKER, wait_until
from walletops.clients import docker as engine_client
from walletops.models import RestartAudit

URL = "/api/v1/admin/ops/containers"
pytestmark = pytest.mark.django_db


@pytest.fixture
def staging(settings, engine):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [engine.url], "production": []}
    settings.WALLETOPS_PROTECTED_CONTAINERS = []
    yield engine
    if engine.process is None:  # a failed test must not leave the engine down for the next one
        engine.start()


def _all_running_with_stats(client):
    response = client.get(URL, {"env": "staging", "include_stats": "true"})
    views = response.json() if response.status_code == HTTPStatus.OK else []
    ready = len(views) == 2 and all(v["status"] == "running" and v["cpu_pct"] is not None for v in views)
    return ready and response


def test_an_engine_stopping_mid_stats_is_a_documented_answer_then_recovers(reader, staging, monkeypatch):
    before = wait_until(lambda: _all_running_with_stats(reader), timeout=30, message="containers not running")
    assert "X-Docker-Unavailable" not in before.headers

    sample, stopping, stopped = engine_client.container_stats, threading.Lock(), threading.Event()

    def stopping_first(url, container_id):
        # The request is under way (listed, inspecting, sampling): the first sample to start stops
        # the engine before it asks, so at least that sample really meets a stopped engine. (Stopping
        # from another thread raced the samples, which an idle engine can answer before it stops.)
        with stopping:
            if not stopped.is_set():
                stopped.set()
                staging.stop()
        return sample(url, container_id)

    monkeypatch.setattr(engine_client, "container_stats", stopping_first)
    started = time.monotonic()
    during = reader.get(URL, {"env": "staging", "include_stats": "true"})
    elapsed = time.monotonic() - started
    assert staging.process is None, "the engine was not stopped"
    assert elapsed < 15, elapsed  # the engine's going away is noticed, not waited out

    # Either documented answer, depending on how far the inspects had got; never a 500.
    if during.status_code == HTTPStatus.OK:
        assert during["X-Docker-Unavailable"] == staging.url
        assert any((v["cpu_pct"], v["mem_pct"]) == (None, None) for v in during.json())
    else:
        assert during.status_code == HTTPStatus.SERVICE_UNAVAILABLE, during.content
        assert during.json()["code"] == "docker_unavailable" and staging.url in during.json()["detail"]
    down = reader.get(URL, {"env": "staging", "include_stats": "true"})
    assert (down.status_code, down.json()["code"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "docker_unavailable")

    staging.start()  # the same engine, started again; the portal is not restarted
    after = wait_until(lambda: _all_running_with_stats(reader), timeout=30, message="no recovery after the restart")
    assert "X-Docker-Unavailable" not in after.headers
    assert sorted(v["name"] for v in after.json()) == [WEB, WORKER]


@pytest.mark.parametrize("path", ["", f"/{WEB}"], ids=["list", "detail"])
def test_an_engine_stopping_between_the_list_and_the_inspects_is_503(reader, staging, monkeypatch, path):
    wait_until(lambda: _all_running_with_stats(reader), timeout=30, message="containers not running")
    inspect = engine_client.container_inspect

    def stopping_first(url, container_id):  # the engine really goes away after listing, before inspecting
        if staging.process is not None:
            staging.stop()
        return inspect(url, container_id)

    monkeypatch.setattr(engine_client, "container_inspect", stopping_first)
    response = reader.get(f"{URL}{path}", {"env": "staging"})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.content
    assert response.json()["code"] == "docker_unavailable" and staging.url in response.json()["detail"]

    monkeypatch.setattr(engine_client, "container_inspect", inspect)
    staging.start()
    wait_until(lambda: reader.get(f"{URL}{path}", {"env": "staging"}).status_code == HTTPStatus.OK, timeout=30,
               message="no recovery after the restart")  # fmt: skip


def test_a_restart_while_the_engine_is_down_is_503_and_audited_once_as_failed(api_client, token_for, staging):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'restart', name='deployer')}")
    staging.stop()
    try:
        response = api_client.post(f"{URL}/{WORKER}/restart", {"timeout": 1}, format="json")
    finally:
        staging.start()
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.content
    assert response.json()["code"] == "docker_unavailable"
    audit = RestartAudit.objects.get()  # exactly one row
    assert (audit.outcome, audit.container, audit.token_name) == ("failed", WORKER, "deployer")
    assert staging.url in audit.detail

    wait_until(lambda: _all_running_with_stats(api_client), timeout=30, message="containers not back")
    again = api_client.post(f"{URL}/{WORKER}/restart", {"timeout": 1}, format="json")
    assert again.status_code == HTTPStatus.OK, again.content
    assert list(RestartAudit.objects.order_by("created_at").values_list("outcome", flat=True)) == [
        "failed", "restarted",
    ]  # fmt: skip
