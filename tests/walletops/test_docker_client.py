"""The Docker client's proxy lookup: requests re-reads the proxy variables at every call (a fifth of the
portal's CPU for a fleet view); a Unix socket or an ssh tunnel cannot go through a proxy, so their clients
skip it, while a tcp:// engine still honours HTTPS_PROXY / NO_PROXY."""

import pytest
import requests.sessions

from scripts.servers.postgres import free_port
from walletops.clients import docker as docker_client
from walletops.clients.docker import EngineDown


@pytest.fixture
def proxy_lookups(monkeypatch):
    looked_up = []
    original = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        looked_up.append(url)
        return original(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    return looked_up


def test_a_unix_socket_engine_is_asked_without_reading_the_proxy_variables(fleet, settings, proxy_lookups):
    assert fleet.staging_url.startswith("unix://")
    containers = docker_client.containers_with_label(fleet.staging_url, "service")
    assert {"wallet-core-staging-web-abc1234"} <= {c["Names"][0].lstrip("/") for c in containers}
    assert proxy_lookups == []


def test_a_tcp_engine_still_honours_the_proxy_variables(settings, proxy_lookups):
    settings.WALLETOPS_DOCKER_TIMEOUT = 2
    url = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(EngineDown):
        docker_client.containers_with_label(url, "service")
    assert proxy_lookups and proxy_lookups[0].startswith("http://127.0.0.1:")
