"""Container rules against a private Docker engine of this module's own: a stopped container, an
unhealthy one, the engine itself stopping (one alert naming its containers), and a deploy holding
container alerts back. Docker is real; the alert clock is moved with time_machine."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, Notification
from opsportal.alerts.services import alerts_evaluate
from tests.conftest import _server_or_skip
from tests.faults.conftest import wait_until

IMAGE = "opsportal/busybox:test"
WEB, WORKER, JOB = "wallet-core-staging-web-a1", "wallet-core-staging-worker-a1", "wallet-core-staging-job-a1"
pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


@pytest.fixture(scope="module")
def engine():
    import docker

    from scripts.servers.docker import PrivateDocker, busybox_image

    server = _server_or_skip(lambda: PrivateDocker())
    _server_or_skip(server.start)
    try:
        _server_or_skip(lambda: busybox_image(server.url, IMAGE))
        client = docker.DockerClient(base_url=server.url, version="1.41")
        # Healthy until /tmp/state says sick: the test turns it unhealthy with one exec (busybox has no touch).
        check = {
            "test": ["CMD-SHELL", 'test "$(cat /tmp/state 2>/dev/null)" != sick'],
            "interval": 500_000_000,
            "retries": 1,
        }
        for name, role, health in ((WEB, "web", check), (WORKER, "worker", None), (JOB, "job", None)):
            client.containers.run(
                IMAGE,
                ["/bin/sleep", "100000"],
                name=name,
                labels={"service": "wallet-core-staging", "role": role},
                healthcheck=health,
                detach=True,
                init=True,
                network_mode="host",
                restart_policy={"Name": "always"},
            )
        client.close()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def docker_client(engine):
    import docker

    client = docker.DockerClient(base_url=engine.url, version="1.41")
    yield client
    client.close()


@pytest.fixture
def containers_rule(settings, engine, only_rules, tmp_path):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [engine.url], "production": []}
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"  # none: no deploy in progress
    (rule,) = only_rules("container", grace_evaluations=2, grace_seconds=0)
    Channel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/")
    yield rule
    if engine.process is None:  # a test that stopped the engine leaves it running for the next
        engine.start()


def _open() -> dict[str, Alert]:
    return {alert.target: alert for alert in Alert.objects.filter(is_open=True)}


def test_a_stopped_and_an_unhealthy_container_each_fire_after_the_grace(containers_rule, docker_client):
    docker_client.containers.get(JOB).stop(timeout=1)
    docker_client.containers.get(WEB).exec_run(["sh", "-c", "echo sick > /tmp/state"])
    wait_until(
        lambda: docker_client.containers.get(WEB).attrs["State"]["Health"]["Status"] == "unhealthy",
        timeout=20,
        message="the web container never turned unhealthy",
    )
    try:
        assert alerts_evaluate().fired == 0
        result = alerts_evaluate()
        assert result.fired == 2
        alerts = _open()
        assert set(alerts) == {WEB, JOB}  # the worker runs and has no health check: no alert
        assert "stopped (exited)" in alerts[JOB].message
        assert "Docker health unhealthy" in alerts[WEB].message and "(staging, web, on unix://" in alerts[WEB].message
        # Two containers failing in one pass: one notification listing both, each with its page.
        (fired,) = Notification.objects.filter(kind="fired")
        assert fired.title == "[ALERT] Containers: 2 targets"
        assert set(fired.alerts.values_list("target", flat=True)) == {WEB, JOB}
        assert "stopped (exited)" in fired.body and "Docker health unhealthy" in fired.body
        for name in (WEB, JOB):
            assert f"http://127.0.0.1:8000/admin/ops/containers/{name}/" in fired.body
    finally:
        docker_client.containers.get(WEB).exec_run(["sh", "-c", "echo ok > /tmp/state"])
        docker_client.containers.get(JOB).start()


def _all_well(client) -> bool:
    states = [client.containers.get(name).attrs["State"] for name in (WEB, WORKER, JOB)]
    return all(s["Running"] for s in states) and states[0]["Health"]["Status"] == "healthy"


def test_an_engine_that_stops_is_one_alert_naming_its_containers(containers_rule, engine, docker_client):
    wait_until(lambda: _all_well(docker_client), timeout=20, message="the containers are not all well")
    alerts_evaluate()  # the engine answers: its containers are remembered
    assert not _open()
    engine.stop()
    alerts_evaluate()
    result = alerts_evaluate()
    assert result.fired == 1
    (alert,) = _open().values()
    assert alert.target == f"engine {engine.url}"
    assert alert.message == f"Docker engine {engine.url} is unreachable; its containers: {JOB}, {WEB}, {WORKER}"
    engine.start()
    wait_until(lambda: alerts_evaluate() and not _open(), timeout=30, message="the engine alert never resolved")
    assert Alert.objects.get(target=f"engine {engine.url}").state == "resolved"


def test_an_engine_no_longer_configured_closes_its_alert_as_no_longer_observed(
    containers_rule, engine, docker_client, settings
):
    wait_until(lambda: _all_well(docker_client), timeout=20, message="the containers are not all well")
    alerts_evaluate()  # the engine answers: its containers are remembered
    engine.stop()
    alerts_evaluate()
    assert alerts_evaluate().fired == 1
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [], "production": []}  # the portal now watches no engine
    alerts_evaluate()
    assert alerts_evaluate().resolved == 1
    alert = Alert.objects.get(target=f"engine {engine.url}")
    assert (alert.state, alert.is_open) == ("gone", False)
    (closed,) = Notification.objects.filter(kind="resolved")
    assert closed.title == f"[CLOSED] Containers: engine {engine.url} (no longer observed)"
    assert "Recovered" not in closed.body and closed.payload["resolution"] == "no_longer_observed"


def test_a_deploy_holds_container_alerts_back_and_sends_them_only_if_they_outlive_it(
    containers_rule, docker_client, settings
):
    now = timezone.now()
    settings.WALLETOPS_DEPLOY_INFO_PATH.write_text(
        json.dumps(
            {
                "current_tag": "a1",
                "previous_tag": "a0",
                "commit_sha": "",
                "deployed_by": "ana",
                "deployed_at": now.isoformat(),
            }
        )
    )
    settings.OPSPORTAL_ALERTS_DEPLOY_WINDOW_SECONDS = 600
    wait_until(lambda: _all_well(docker_client), timeout=20, message="the containers are not all well")
    docker_client.containers.get(JOB).stop(timeout=1)
    try:
        with time_machine.travel(now, tick=False) as clock:
            for _ in range(4):  # well past the grace, but inside the deploy's window
                assert alerts_evaluate().fired == 0
                clock.shift(60)
            assert _open()[JOB].held and not Notification.objects.exists()
            clock.shift(timedelta(minutes=6))  # the window is over and the container is still stopped
            assert alerts_evaluate().fired == 1
            assert not _open()[JOB].held
    finally:
        docker_client.containers.get(JOB).start()
