"""bench.containers counts the Docker API calls the portal sends, per engine, at the SDK's transport:
against a real private engine, one list per engine URL and one inspect per container; an engine
under a second URL (the bench's 50-engine shape over fewer dockerds) is a second engine to the portal."""

from __future__ import annotations

import pytest

from bench.containers import IMAGE, TransportCounter, _alias, create_fleet
from tests.conftest import _server_or_skip


@pytest.fixture(scope="module")
def engine():
    from scripts.servers.docker import PrivateDocker, busybox_image

    server = _server_or_skip(lambda: PrivateDocker())
    _server_or_skip(server.start)
    try:
        _server_or_skip(lambda: busybox_image(server.url, IMAGE))
        create_fleet(server.url, 3, 1, 0, ["/bin/sleep", "100000"])  # one running, two created
        yield server
    finally:
        server.destroy()


@pytest.fixture
def counter():
    import docker

    original = docker.APIClient.send
    counter = TransportCounter()
    yield counter
    docker.APIClient.send = original


def test_calls_are_counted_per_engine_url_and_kind(engine, counter, settings):
    from walletops import containers

    second = _alias(engine.url, 1)
    assert second != engine.url and second.endswith("/./docker.sock")
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [engine.url, second], "production": [engine.url, second]}
    views, missing = containers.containers_list(
        envs=["staging", "production"], include_accessories=False, include_stats=False
    )
    assert (len(views), missing) == (6, [])  # the same three containers through each URL
    assert counter.by_kind() == {"list": 2, "inspect": 6}
    assert {url for url, _ in counter.calls} == {engine.url, second}
    assert len(counter.per_engine_ms()) == 2
    assert 1 <= counter.peak <= 6

    counter.reset()
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [engine.url], "production": [engine.url]}
    containers.containers_list(envs=["staging", "production"], include_accessories=False, include_stats=True)
    assert counter.by_kind() == {"list": 1, "inspect": 3, "stats": 1}  # stats for the running one only
