"""``GET /api/v1/admin/ops/containers`` on private Docker engines.

    python -m bench.containers [--busy 20] [--fleet 200]

1. With stats, over N busy running containers: the endpoint's wall time against
   one container's stats call and against ``docker stats --no-stream`` for the
   same containers (the CLI of this machine's docker.io).
2. Without stats, over M containers on two engines: p50 latency, Docker API
   calls per request, and how many of them were in flight at once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from collections import Counter

from bench.common import p50_ms, private_postgres_django

IMAGE = "opsportal/busybox:test"
BUSY = "while true; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.05; done"


class CallCounter:
    """Wraps the Docker client module's calls to count them and their peak concurrency."""

    def __init__(self):
        self.calls, self.in_flight, self.peak, self.lock = Counter(), 0, 0, threading.Lock()

    def wrap(self, module, name):
        original = getattr(module, name)

        def counted(*args, **kwargs):
            with self.lock:
                self.calls[name] += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                return original(*args, **kwargs)
            finally:
                with self.lock:
                    self.in_flight -= 1

        setattr(module, name, counted)

    def reset(self):
        self.calls.clear()
        self.peak = 0


def run_fleet(url: str, count: int, prefix: str, env: str, command: list[str]) -> list[str]:
    import docker

    client = docker.DockerClient(base_url=url, version="1.41", timeout=120)
    names = []
    for index in range(count):
        name = f"wallet-core-{env}-{prefix}{index}-v1"
        client.containers.run(
            IMAGE, command, name=name, detach=True, init=True, network_mode="host",
            labels={"service": f"wallet-core-{env}", "role": f"{prefix}{index}", "version": "v1"},
        )  # fmt: skip
        names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--fleet", type=int, default=200)
    args = parser.parse_args()
    from scripts.servers.docker import PrivateDocker, busybox_image

    staging, production = PrivateDocker(), PrivateDocker()
    try:
        for engine in (staging, production):
            engine.start()
            busybox_image(engine.url, IMAGE)
        with private_postgres_django():
            from django.conf import settings
            from rest_framework.test import APIClient

            from opsportal.api.tokens import api_token_create
            from walletops.clients import docker as engine_module

            settings.WALLETOPS_DOCKER_HOSTS = {"staging": [staging.url], "production": [production.url]}
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process client's host
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='bench', scopes=['read']).secret}")

            # 1. Stats over busy containers.
            names = run_fleet(staging.url, args.busy, "busy", "staging", ["/bin/sh", "-c", BUSY])
            time.sleep(2)
            from walletops.clients.docker import container_stats

            one = statistics.median(_timed(lambda: container_stats(staging.url, names[0])) for _ in range(3))
            endpoint = statistics.median(
                _timed(lambda: _ok(client.get("/api/v1/admin/ops/containers",
                                              {"env": "staging", "include_stats": "true"})))
                for _ in range(3)
            )  # fmt: skip
            cli = statistics.median(
                _timed(lambda: subprocess.run(["docker", "-H", staging.url, "stats", "--no-stream", *names],
                                              check=True, capture_output=True))
                for _ in range(3)
            )  # fmt: skip
            print(f"{args.busy} busy containers, include_stats=true (median of 3)")
            print(f"  one container's stats call   {one:6.2f} s")
            print(f"  the endpoint                 {endpoint:6.2f} s   {endpoint / one:.2f} x one call")
            print(f"  docker stats --no-stream     {cli:6.2f} s   endpoint {endpoint / cli:.2f} x the CLI")
            subprocess.run(["docker", "-H", staging.url, "rm", "-f", *names], check=True, capture_output=True)

            # 2. A large fleet without stats.
            half = args.fleet // 2
            run_fleet(staging.url, half, "svc", "staging", ["/bin/sleep", "100000"])
            run_fleet(production.url, args.fleet - half, "svc", "production", ["/bin/sleep", "100000"])
            counter = CallCounter()
            for name in ("containers_with_label", "container_inspect", "container_stats"):
                counter.wrap(engine_module, name)
            from walletops import containers

            default_pool = containers.POOL_SIZE
            p50 = p50_ms(lambda: _ok(client.get("/api/v1/admin/ops/containers")), repeat=10)
            counter.reset()
            body = _ok(client.get("/api/v1/admin/ops/containers"))
            calls, peak = dict(counter.calls), counter.peak
            by_pool = {}
            for size in (1, 4, 8, 16, 32):  # the same request with each engine's inspects n at a time
                containers.POOL_SIZE = size
                by_pool[size] = p50_ms(lambda: _ok(client.get("/api/v1/admin/ops/containers")), repeat=5)
            containers.POOL_SIZE = default_pool
            print(f"{len(body)} containers on two engines, no stats")
            print(f"  p50 latency {p50:.0f} ms; Docker API calls per request {sum(calls.values())} ({calls}); "
                  f"at most {peak} in flight at once")  # fmt: skip
            print("  p50 with each engine's inspects n at a time: "
                  + ", ".join(f"{n}: {ms:.0f} ms" for n, ms in by_pool.items()))  # fmt: skip
    finally:
        for engine in (staging, production):
            engine.destroy()


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _ok(response):
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
    return response.json()


if __name__ == "__main__":
    main()
