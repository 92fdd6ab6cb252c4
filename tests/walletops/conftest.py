"""A Kamal-shaped fleet on two private Docker engines (two "hosts"), shared by the wallet ops tests."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

import pytest

from scripts.servers.postgres import free_port
from tests.conftest import _server_or_skip
from tests.walletops.helpers import COLOURED, TICK, container_wrote

IMAGE = "opsportal/busybox:test"
STAGING_SHA = "abc1234def5678abc1234def5678abc1234def56"
RUNNER_SCRIPT = (
    "printf '\\033[31mred\\033[0m started\\n'; "
    "i=0; while [ $i -lt 20000 ]; do printf 'x'; i=$((i+1)); done; printf '\\n'; "  # a 20,000-character line
    'n=0; while true; do echo "tick $n"; n=$((n+1)); sleep 1; done'
)


@dataclass
class Fleet:
    staging_url: str
    production_url: str
    engines: dict
    web_port: int
    prod_port: int


def _run(client, name, command, *, labels, hostname, healthcheck=None, environment=None):
    return client.containers.run(
        IMAGE, command, name=name, labels=labels, hostname=hostname, healthcheck=healthcheck, environment=environment,
        detach=True, init=True, network_mode="host",
    )  # fmt: skip


def _health(command: str) -> dict:
    return {"test": ["CMD-SHELL", command], "interval": 1_000_000_000, "timeout": 3_000_000_000, "retries": 2}


@pytest.fixture(scope="session")
def fleet():
    import docker

    from scripts.servers.docker import PrivateDocker, busybox_image

    staging = _server_or_skip(lambda: PrivateDocker())
    production = _server_or_skip(lambda: PrivateDocker())
    _server_or_skip(staging.start)
    _server_or_skip(production.start)
    engines = {"staging": staging, "production": production}
    try:
        for engine in engines.values():
            _server_or_skip(lambda engine=engine: busybox_image(engine.url, IMAGE))
        a = docker.DockerClient(base_url=staging.url, version="1.41")
        b = docker.DockerClient(base_url=production.url, version="1.41")
        web_port, prod_port = free_port(), free_port()
        app = {"service": "wallet-core-staging", "version": "abc1234", "org.opencontainers.image.revision": STAGING_SHA}
        _run(a, "wallet-core-staging-web-abc1234", ["/bin/httpd", "-f", "-p", f"127.0.0.1:{web_port}", "-h", "/www"],
             labels={**app, "role": "web"}, hostname="10.0.0.1-0a1b2c3d4e5f",
             healthcheck=_health(f"wget -q -O- http://127.0.0.1:{web_port}/ || exit 1"))  # fmt: skip
        _run(a, "wallet-core-staging-runner-abc1234", ["/bin/sh", "-c", RUNNER_SCRIPT],
             labels={**app, "role": "runner"}, hostname="10.0.0.1-1a1b2c3d4e5f")  # fmt: skip
        _run(a, "wallet-core-staging-worker-abc1234", ["/bin/sleep", "100000"],
             labels={"service": "wallet-core-staging", "role": "worker"}, hostname="10.0.0.1-2a1b2c3d4e5f",
             environment={"KAMAL_VERSION": "abc1234", "GIT_SHA": "feedbeef"},
             healthcheck=_health("echo failing on purpose; exit 3"))  # fmt: skip
        _run(a, "wallet-core-staging-redis", ["/bin/sleep", "100000"],
             labels={"service": "wallet-core-staging-redis"}, hostname="10.0.0.1-3a1b2c3d4e5f")  # fmt: skip
        _run(a, "unrelated-database", ["/bin/sleep", "100000"], labels={}, hostname="db")
        _run(a, "other-app-staging-web-1", ["/bin/sleep", "100000"],
             labels={"service": "other-app-staging", "role": "web"}, hostname="other")  # fmt: skip
        stopped = _run(a, "wallet-core-staging-job-abc1234", ["/bin/true"],
                       labels={**app, "role": "job"}, hostname="10.0.0.1-4a1b2c3d4e5f")  # fmt: skip
        stopped.wait(timeout=30)
        prod_httpd = ["/bin/httpd", "-f", "-p", f"127.0.0.1:{prod_port}", "-h", "/www"]
        _run(b, "wallet-core-production-web-def5678", prod_httpd,
             labels={"service": "wallet-core-production", "role": "web", "version": "def5678"},
             hostname="10.0.0.2-0a1b2c3d4e5f",
             healthcheck=_health(f"wget -q -O- http://127.0.0.1:{prod_port}/ || exit 1"))  # fmt: skip
        _run(b, "wallet-core-production-worker-def5678", ["/bin/sleep", "100000"],
             labels={"service": "wallet-core-production", "role": "worker", "version": "def5678"},
             hostname="10.0.0.2-1a1b2c3d4e5f")  # fmt: skip
        yield Fleet(staging.url, production.url, engines, web_port, prod_port)
    finally:
        for engine in engines.values():
            engine.destroy()


@pytest.fixture
def fleet_settings(settings, fleet):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [fleet.staging_url], "production": [fleet.production_url]}
    settings.WALLETOPS_PROTECTED_CONTAINERS = ["opsportal-*"]
    return fleet


@pytest.fixture
def reader(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    return api_client


@pytest.fixture(scope="module")
def tickers(fleet):
    import docker

    clients = {
        "a": docker.DockerClient(base_url=fleet.staging_url, version="1.41"),
        "b": docker.DockerClient(base_url=fleet.production_url, version="1.41"),
    }
    created = []

    def run(client, name, script, labels):
        created.append((client, name))
        return _run(client, name, ["/bin/sh", "-c", script], labels=labels, hostname=name)

    try:
        for label, client in clients.items():
            run(client, f"wallet-core-follow-ticker-{label}", TICK.format(label=label),
                {"service": "wallet-core-follow", "role": "ticker"})  # fmt: skip
        run(clients["a"], "wallet-core-follow-colour-1", COLOURED, {"service": "wallet-core-follow", "role": "colour"})
        run(clients["a"], "wallet-core-relayed-ticker-1", TICK.format(label="r"),
            {"service": "wallet-core-relayed", "role": "ticker"})  # fmt: skip
        for client, name in created:
            if "ticker" in name:
                container_wrote(client, name, 5)  # the backlog the tests' tail (at most 5) reads
        yield clients
    finally:
        for client, name in created:
            with suppress(docker.errors.NotFound):
                client.containers.get(name).remove(force=True)
        for client in clients.values():
            client.close()


@pytest.fixture
def follow_env(settings, fleet_settings, tickers):
    settings.WALLETOPS_ENVS = [*settings.WALLETOPS_ENVS, "follow"]
    settings.WALLETOPS_DOCKER_HOSTS = {
        **settings.WALLETOPS_DOCKER_HOSTS,
        "follow": [fleet_settings.staging_url, fleet_settings.production_url],
    }
    settings.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 1
    return settings


@pytest.fixture
def checker(api_client, token_for):
    """A token that may run health checks (a command in the container: ``containers:check``)."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'containers:check')}")
    return api_client
