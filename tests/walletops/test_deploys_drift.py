"""Drift per role on the two private Docker engines (two hosts of a "drift" destination), and its rules, pure."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

import pytest

from tests.walletops.conftest import IMAGE
from tests.walletops.kamal_files import audit_record
from walletops.deploys.drift import Seen, drift_compute

URL = "/api/v1/admin/ops/deploys/drift"


def test_hosts_that_agree_do_not_drift_and_share_their_rollbacks():
    seen = [Seen("web", "a", "v2", True), Seen("web", "b", "v2", True), Seen("web", "a", "v1", False),
            Seen("web", "b", "v1", False), Seen("web", "b", "v0", False)]  # fmt: skip
    (web,) = drift_compute(seen, newest_version="v2")
    assert web.hosts == {"a": ["v2"], "b": ["v2"]} and not web.drifting
    assert web.rollback_candidates == ["v1"]  # v0 is only on b


def test_each_kind_of_drift_is_named():
    seen = [Seen("web", "a", "v2", True), Seen("web", "a", "v1", True), Seen("web", "b", "v1", True),
            Seen("workers", "a", "v1", True)]  # fmt: skip
    web, workers = drift_compute(seen, newest_version="v2")
    assert web.problems == [
        "hosts differ: a runs v1, v2; b runs v1",
        "a runs 2 versions (v1, v2)",
        "the newest deploy's version v2 is not running on b",
    ]
    assert workers.problems == ["the newest deploy's version v2 is not running on a"]


@pytest.fixture
def drift_fleet(fleet_settings, settings):
    """A "drift" destination served by both engines: one web container each, version v1 (Kamal's labels)."""
    import docker

    settings.WALLETOPS_ENVS = [*settings.WALLETOPS_ENVS, "drift"]
    settings.WALLETOPS_DOCKER_HOSTS = {
        **settings.WALLETOPS_DOCKER_HOSTS, "drift": [fleet_settings.staging_url, fleet_settings.production_url]
    }  # fmt: skip
    clients = [docker.DockerClient(base_url=url, version="1.41")
               for url in (fleet_settings.staging_url, fleet_settings.production_url)]  # fmt: skip
    made = []

    def run(client, version, *, running=True):
        name = f"wallet-core-web-drift-{version}"
        labels = {"service": "wallet-core", "role": "web", "destination": "drift", "version": version}
        container = client.containers.run(IMAGE, ["/bin/sleep", "100000"] if running else ["/bin/true"], name=name,
                                          labels=labels, detach=True)  # fmt: skip
        if not running:
            container.wait(timeout=30)
        made.append((client, name))
        return container

    try:
        for client in clients:
            run(client, "v1")
        yield clients, run
    finally:
        for client, name in made:
            with suppress(docker.errors.NotFound):
                client.containers.get(name).remove(force=True)
        for client in clients:
            client.close()


@pytest.mark.django_db
def test_drift_is_seen_on_the_next_read_after_a_host_changes(reader, drift_fleet, settings, tmp_path):
    clients, run = drift_fleet
    body = reader.get(URL, {"destination": "drift"}).json()
    (web,) = body["roles"]
    assert not body["drifting"] and sorted(v for versions in web["hosts"].values() for v in versions) == ["v1", "v1"]
    # Host b is deployed v2 (Kamal stops the old container): the hosts differ on the next read.
    clients[1].containers.get("wallet-core-web-drift-v1").stop(timeout=0)
    run(clients[1], "v2")
    body = reader.get(URL, {"destination": "drift"}).json()
    assert body["drifting"] and body["roles"][0]["problems"][0].startswith("hosts differ")
    # The hosts' audit lines say v2 was the newest deploy; host a still runs v1, and now v2 beside it.
    settings.WALLETOPS_KAMAL_RUN_DIRS = {"a": tmp_path / ".kamal"}
    audit_record(tmp_path, "wallet-core", datetime(2026, 12, 7, 18, tzinfo=UTC), "ana", "Booted app version v2",
                 destination="drift", role="web")  # fmt: skip
    reader.get("/api/v1/admin/ops/deploys", {"destination": "drift"})  # reads the hosts' files
    run(clients[0], "v2")
    (web,) = reader.get(URL, {"destination": "drift"}).json()["roles"]
    assert any("runs 2 versions (v1, v2)" in problem for problem in web["problems"])
    # v1 is now stopped on b and running on a: present on both hosts, so a candidate? It still runs on a.
    assert web["rollback_candidates"] == []


@pytest.mark.django_db
def test_the_drift_rule_fires_when_a_host_differs_and_resolves_when_they_agree(drift_fleet, settings, tmp_path):
    from opsportal.alerts.models import Alert, Rule
    from opsportal.alerts.services import alerts_evaluate

    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"  # none: no deploy in progress
    Rule.objects.exclude(kind="drift").update(enabled=False)
    Rule.objects.filter(kind="drift").update(grace_evaluations=1, grace_seconds=0)
    clients, run = drift_fleet
    assert alerts_evaluate().fired == 0
    clients[1].containers.get("wallet-core-web-drift-v1").stop(timeout=0)
    run(clients[1], "v2")
    assert alerts_evaluate().fired == 1
    alert = Alert.objects.get(is_open=True)
    assert alert.target == "drift drift/web" and "hosts differ" in alert.message
    clients[1].containers.get("wallet-core-web-drift-v2").stop(timeout=0)
    clients[1].containers.get("wallet-core-web-drift-v1").start()
    assert alerts_evaluate().resolved == 1
