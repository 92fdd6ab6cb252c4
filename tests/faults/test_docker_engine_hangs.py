"""Fault: of one env's three Docker engines, one accepts connections and never answers, one is gone.

The hung engine is a real listening socket: the kernel completes each connection (its backlog) and
nothing ever reads or answers, as a host whose dockerd is wedged, or a remote one behind a proxy
that holds the connection. The gone one is a Unix socket path with nothing behind it. The third is
this module's private ``dockerd`` with two Kamal-shaped containers (test_docker_engine_stops.py).

Every page and endpoint that reads the engines answers within its documented bound (README,
"Reliability": the engines are asked in parallel, each call within ``WALLETOPS_DOCKER_TIMEOUT``),
serves what the live engine says, and names the two others; none waits for the hung one, which
would hold a request thread for ever (dozzle#3275: one dead agent took its whole server down).
Each answer's time is printed (``-s``) for the README's table.
"""

from __future__ import annotations

import socket
import tempfile
import time
from http import HTTPStatus
from pathlib import Path

import pytest

from tests.faults.conftest import WEB

pytestmark = pytest.mark.django_db
TIMEOUT = 2  # WALLETOPS_DOCKER_TIMEOUT here: small, so that the bound below is far below "for ever"
# Each answer within this: the engines are read in parallel, a page makes at most a few rounds of calls
# one after the other (list, then inspect or logs), each within TIMEOUT. A hung engine not cut off by its
# timeout would hold the request as long as the listener lives (the whole module).
BOUND = 8 * TIMEOUT
API = "/api/v1/admin/ops"


@pytest.fixture(scope="module")
def hung_engine():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # connections complete in the backlog; none is ever accepted or answered
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def faulty(settings, engine, hung_engine):  # noqa: F811
    gone = f"unix://{Path(tempfile.mkdtemp(prefix='opsportal-gone-')) / 'docker.sock'}"
    settings.WALLETOPS_DOCKER_TIMEOUT = TIMEOUT
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [engine.url, hung_engine, gone], "production": []}
    settings.WALLETOPS_PROTECTED_CONTAINERS = []
    return {"live": engine.url, "hung": hung_engine, "gone": gone}


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _names_both(text: str, faulty: dict) -> bool:
    return faulty["hung"] in text and faulty["gone"] in text


def _text(response) -> str:
    headers = " ".join(f"{k}: {v}" for k, v in response.headers.items())
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return f"{headers}\n{body.decode(errors='replace')}"


# Each read, and whether its answer depends on every engine (a list, a role across engines: it must name
# the two that did not answer) or only on the engine its container is on (found on the live one: complete).
API_READS = {
    "containers list": (f"{API}/containers?env=staging", True),
    "containers list with stats": (f"{API}/containers?env=staging&include_stats=true", True),
    "container detail": (f"{API}/containers/{WEB}?env=staging", False),
    "container detail, not on the live engine": (
        f"{API}/containers/wallet-core-staging-web-elsewhere?env=staging",
        True,
    ),
    "container logs": (f"{API}/containers/{WEB}/logs?env=staging&tail=10", False),
    "merged logs": (f"{API}/logs?env=staging&role=web&tail=10", True),
    "queues": (f"{API}/queues", False),  # the broker's and the runner's depths: no engine read
    "hosts": (f"{API}/hosts", False),  # Prometheus's
}
PAGES = {
    "dashboard": ("/admin/ops/", False),  # its panels load on their own (below)
    "dashboard containers panel": ("/admin/ops/panels/containers/", True),
    "dashboard queues panel": ("/admin/ops/panels/queues/", False),
    "containers page": ("/admin/ops/containers/?env=staging", True),
    "container page": (f"/admin/ops/containers/{WEB}/?env=staging", False),
    "container logs page": (f"/admin/ops/containers/{WEB}/logs/?env=staging", False),
    "merged logs page": ("/admin/ops/logs/?env=staging&role=web", True),
}


@pytest.mark.parametrize("what", list(API_READS))
def test_each_endpoint_answers_in_bound_naming_the_engines_that_did_not(what, reader, faulty):
    url, names = API_READS[what]
    response, took = _timed(lambda: reader.get(url))
    print(f"\n{what}: {response.status_code} in {took:.2f} s")
    assert took < BOUND, f"{what} took {took:.1f} s"
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE), response.content
    if names:
        assert _names_both(_text(response), faulty), _text(response)[:2000]


@pytest.mark.parametrize("what", list(PAGES))
def test_each_page_answers_in_bound_naming_the_engines_that_did_not(what, admin_client, faulty):
    url, names = PAGES[what]
    response, took = _timed(lambda: admin_client.get(url))
    print(f"\n{what}: {response.status_code} in {took:.2f} s")
    assert took < BOUND, f"{what} took {took:.1f} s"
    assert response.status_code == HTTPStatus.OK, response.status_code
    if names:
        assert _names_both(_text(response), faulty), _text(response)[:3000]


def test_a_merged_follow_starts_at_once_naming_the_engines_it_cannot_follow(reader, faulty, settings):
    settings.WALLETOPS_LOG_STREAM_IDLE_SECONDS = 1  # the web container writes nothing: the stream ends by itself
    response, took = _timed(lambda: reader.get(f"{API}/logs", {"env": "staging", "role": "web", "follow": "true"}))
    assert response.status_code == HTTPStatus.OK and _names_both(response["X-Docker-Unavailable"], faulty)
    events = b"".join(response.streaming_content).decode()
    print(f"\nmerged follow: {response.status_code} in {took:.2f} s")
    assert took < BOUND
    assert f'"engine":"{faulty["hung"]}"' in events and f'"engine":"{faulty["gone"]}"' in events, events


def test_metrics_answer_in_bound(client, faulty, settings):
    settings.OPSPORTAL_METRICS_ALLOWED_IPS = ["127.0.0.1"]
    response, took = _timed(lambda: client.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    print(f"\nmetrics: {response.status_code} in {took:.2f} s")
    assert took < BOUND and response.status_code == HTTPStatus.OK


def test_an_alerts_pass_ends_in_bound_with_each_engine_down_as_its_own_target(faulty):
    from opsportal.alerts.models import Alert
    from opsportal.alerts.services import alerts_evaluate
    from walletops.clients import docker as engine_client

    result, took = _timed(alerts_evaluate)
    print(f"\nalerts pass: ran={result.ran} in {took:.2f} s")
    assert result.ran and took < BOUND
    targets = set(Alert.objects.values_list("target", flat=True))
    hung, gone = engine_client.host_label(faulty["hung"]), engine_client.host_label(faulty["gone"])
    assert any(hung in target for target in targets) and any(gone in target for target in targets), targets
