"""Fault: Prometheus answers, but slower than ``WALLETOPS_PROMETHEUS_TIMEOUT``.

A real Prometheus cannot be made slow on demand, so a small TCP proxy sits in front
of the private one (two node exporters behind it) and holds each new connection
for ``delay`` seconds before forwarding it; everything else is the real server.
The documented answer is 503 ``prometheus_unavailable`` within about the timeout
(the first of the three queries gives up; the others are not tried), and 200 again
as soon as Prometheus is fast, in this same process.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http import HTTPStatus

import pytest

from tests.faults.conftest import wait_until

HOSTS = "/api/v1/admin/ops/hosts"
TIMEOUT_S = 1
pytestmark = pytest.mark.django_db


class DelayingProxy:
    """TCP proxy to ``upstream`` that holds every new connection ``delay`` seconds before forwarding it."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream, self.delay = upstream, 0.0
        self.accepted = 0  # connections so far: each query the portal sends opens one
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.closing = threading.Event()
        threading.Thread(target=self._accept, name="delaying-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        self.closing.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            if self.delay and self.closing.wait(self.delay):
                return
            with socket.create_connection(self.upstream, timeout=10) as upstream:
                threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
                self._pipe(upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)


@pytest.fixture
def slow_prometheus(settings, prometheus_stack):
    server, _ = prometheus_stack
    proxy = DelayingProxy(("127.0.0.1", server.port))
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = proxy.url
    settings.WALLETOPS_PROMETHEUS_TIMEOUT = TIMEOUT_S
    yield proxy
    proxy.close()


def test_a_slow_prometheus_is_503_within_the_timeout_then_recovers(reader, admin_client, slow_prometheus):
    def two_hosts():
        response = reader.get(HOSTS)
        return response.status_code == HTTPStatus.OK and len(response.json()["hosts"]) == 2 and response

    wait_until(two_hosts, timeout=60, interval=0.5, message="Prometheus never reported the two hosts")

    # Far past the timeout, so that "gave up" and "waited it out" differ by a minute, not by how busy
    # the machine is; a held connection is let go when the proxy closes.
    slow_prometheus.delay = 60
    accepted, started = slow_prometheus.accepted, time.monotonic()
    response = reader.get(HOSTS)
    elapsed = time.monotonic() - started
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "code": "prometheus_unavailable", "detail": f"Prometheus did not answer within {TIMEOUT_S} s",
    }  # fmt: skip
    # One query was sent and gave up at the timeout: not three, one after the other, nor the delay waited out.
    assert slow_prometheus.accepted - accepted == 1
    assert TIMEOUT_S <= elapsed < slow_prometheus.delay, elapsed
    panel = admin_client.get("/admin/ops/panels/hosts/").content.decode()
    assert 'role="alert"' in panel and "prometheus_unavailable: Prometheus did not answer" in panel

    slow_prometheus.delay = 0  # fast again: the very next request answers, no restart
    recovered = reader.get(HOSTS)
    assert recovered.status_code == HTTPStatus.OK, recovered.content
    assert len(recovered.json()["hosts"]) == 2
    assert 'role="alert"' not in admin_client.get("/admin/ops/panels/hosts/").content.decode()
