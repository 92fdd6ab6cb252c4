"""``GET /api/v1/admin/ops/containers`` on private Docker engines.

    python -m bench.containers [--engines 8] [--containers 500] [--running 2] [--busy 20]
                               [--rounds 3] [--repeat 10]

1. With stats, over --busy busy running containers on one engine: the endpoint's wall time against
   one container's stats call and against ``docker stats --no-stream`` for the same containers
   (the CLI of this machine's docker.io). ``--busy 0`` skips it.
2. The fleet: --containers containers spread over --engines real engines (private dockerd each,
   vfs, no bridge; ``scripts.servers.docker``). Each engine holds --running running containers
   (for the stats) and the rest created but not started: a list and an inspect cost the same for
   both, and 500 running containers (a shim each) would not fit this machine beside the others.
   Without stats, p50 over the first 1, 2, 4 and all engines (the same containers per engine, so
   the fleet grows with the engines); with stats over all; Docker API calls per request and how
   many were in flight at once, counted at the SDK's HTTP transport (every request the portal's
   client sends, per engine); each engine's share of a request (first call sent to last answer);
   the portal's own CPU per request (this process, all threads; the engines are other processes).

``--rtt-ms R`` also measures all engines with R ms slept before each Docker API call (a remote
engine's round trip, simulated: the engines here are local sockets). ``--aliases A`` also measures
A engine URLs spread over the dockerds (each dockerd under several spellings of its socket's path):
the portal holds a client, a connection pool and a fan-out slot per URL, as with A engines, while
the dockerds behind them are shared; with ``--containers 80 --aliases 50``, 50 engines of 10.

Figures: the median of --rounds rounds (each a p50 over --repeat requests) and their range, printed
and written to ``var/bench/containers.json`` (``--record``) (``bench.figures``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, ratio, record, table

IMAGE = "opsportal/busybox:test"
BUSY = "while true; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 0.05; done"
ENDPOINT = "/api/v1/admin/ops/containers"


class TransportCounter:
    """Counts every HTTP request the Docker SDK's clients send (``APIClient.send``), per engine,
    with the peak of requests in flight and each engine's first-sent / last-answered times."""

    def __init__(self):
        import docker

        self.lock = threading.Lock()
        self.calls: Counter = Counter()  # (engine URL, path kind) -> requests
        self.in_flight = self.peak = 0
        self.rtt_s = 0.0  # added before each request: a remote engine's round trip, simulated
        self.spans: dict[str, list[float]] = {}
        self._original = docker.APIClient.send
        counter = self

        def counted(client, request, **kwargs):
            url, kind = counter.engine_of(client), _kind(request.path_url)
            started = time.perf_counter()
            with counter.lock:
                counter.calls[url, kind] += 1
                counter.in_flight += 1
                counter.peak = max(counter.peak, counter.in_flight)
                span = counter.spans.setdefault(url, [started, started])
                span[0] = min(span[0], started)
            try:
                if counter.rtt_s:
                    time.sleep(counter.rtt_s)
                return counter._original(client, request, **kwargs)
            finally:
                with counter.lock:
                    counter.in_flight -= 1
                    counter.spans[url][1] = max(counter.spans[url][1], time.perf_counter())

        docker.APIClient.send = counted

    @staticmethod
    def engine_of(client) -> str:
        from walletops.clients import docker as engine_module

        for url, known in engine_module._clients.items():
            if known is client:
                return url
        return "other"

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.spans.clear()
            self.peak = 0

    def by_kind(self) -> dict[str, int]:
        kinds: Counter = Counter()
        for (_, kind), n in self.calls.items():
            kinds[kind] += n
        return dict(kinds)

    def per_engine_ms(self) -> list[float]:
        return [(end - start) * 1000 for start, end in self.spans.values()]


def _kind(path: str) -> str:
    """``/v1.41/containers/json`` is the list, ``/v1.41/containers/<id>/json`` an inspect, ``…/stats`` a sample."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[-2:] == ["containers", "json"]:
        return "list"
    return {"json": "inspect"}.get(parts[-1], parts[-1])


def _alias(url: str, index: int) -> str:
    """The same engine under another URL (``unix:///…/./docker.sock``): the portal's clients are per URL."""
    folder, _, socket_name = url.rpartition("/")
    return f"{folder}/{'./' * index}{socket_name}"


def create_fleet(url: str, count: int, running: int, engine_index: int, command: list[str]) -> list[str]:
    """``count`` of the service's containers on one engine: the first ``running`` started, the rest created."""
    import docker

    client = docker.APIClient(base_url=url, version="1.41", timeout=300)
    names = []
    try:
        for index in range(count):
            env = "staging" if index % 2 == 0 else "production"
            name = f"wallet-core-{env}-e{engine_index}svc{index}-v1"
            created = client.create_container(
                IMAGE, command, name=name, labels={"service": f"wallet-core-{env}", "role": f"svc{index}",
                                                   "version": "v1"},
                host_config=client.create_host_config(network_mode="host", init=True),
            )  # fmt: skip
            if index < running:
                client.start(created["Id"])
            names.append(name)
    finally:
        client.close()
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", type=int, default=8)
    parser.add_argument("--containers", type=int, default=500, help="over all engines, spread evenly")
    parser.add_argument("--running", type=int, default=2, help="running containers per engine (the rest created)")
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=0, help="also with this round trip added to every call")
    parser.add_argument("--aliases", type=int, default=0, help="also with this many engine URLs over the dockerds")
    parser.add_argument("--record", default="containers", help="var/bench/<record>.json")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    from scripts.servers.docker import PrivateDocker, busybox_image

    engines = [PrivateDocker() for _ in range(args.engines)]
    figures = []
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(lambda e: (e.start(timeout=180), busybox_image(e.url, IMAGE)), engines))
        urls = [e.url for e in engines]
        print(f"{len(engines)} engines started in {time.monotonic() - started:.0f} s", flush=True)
        with private_postgres_django():
            from django.conf import settings
            from rest_framework.test import APIClient

            from opsportal.api.tokens import api_token_create
            from walletops import containers

            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process client's host
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='bench', scopes=['read']).secret}")

            def use(engine_urls: list[str]) -> None:
                # Both environments on the same engines: each engine is scanned once, containers classified
                # by their labels (half staging, half production).
                settings.WALLETOPS_DOCKER_HOSTS = {"staging": engine_urls, "production": engine_urls}

            def get(**params) -> list:
                response = client.get(ENDPOINT, params)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
                return response.json()

            # 1. Stats over busy containers, on the first engine alone.
            if args.busy:
                use(urls[:1])
                busy = create_fleet(urls[0], args.busy, args.busy, 0, ["/bin/sh", "-c", BUSY])
                time.sleep(2)  # a first sample needs a second of counters behind it
                from walletops.clients.docker import container_stats

                ones, endpoints, clis = [], [], []
                for _ in range(args.rounds):
                    cid = busy[0]
                    ones.append(_timed(lambda cid=cid: container_stats(urls[0], cid)))
                    endpoints.append(_timed(lambda: get(include_stats="true")))
                    clis.append(_timed(lambda: subprocess.run(["docker", "-H", urls[0], "stats", "--no-stream", *busy],
                                                              check=True, capture_output=True)))  # fmt: skip
                one = measured("one container's stats call", ones, "s")
                endpoint = measured(f"GET /containers?include_stats=true, {args.busy} busy containers", endpoints, "s")
                cli = measured(f"docker stats --no-stream, the same {args.busy}", clis, "s")
                part = [one, endpoint, cli, ratio("endpoint / one stats call", endpoint, one, goal_max=1.5),
                        ratio("endpoint / docker stats --no-stream", endpoint, cli, goal_max=1.0)]  # fmt: skip
                print(table(part), flush=True)
                figures += part
                subprocess.run(["docker", "-H", urls[0], "rm", "-f", *busy], check=True, capture_output=True)

            # 2. The fleet.
            if args.running > args.containers // len(urls):
                raise SystemExit("--running is per engine, and at most the containers of an engine")
            per_engine = [args.containers // len(urls) + (i < args.containers % len(urls)) for i in range(len(urls))]
            started = time.monotonic()
            with ThreadPoolExecutor(len(urls)) as pool:
                list(pool.map(lambda i: create_fleet(urls[i], per_engine[i], args.running, i, ["/bin/sleep", "100000"]),
                              range(len(urls))))  # fmt: skip
            print(f"{args.containers} containers ({args.running} running per engine) created in "
                  f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
            counter = TransportCounter()

            def fleet_figures(label: str, engine_urls: list[str], expected: int, rtt_ms: float = 0) -> None:
                """p50, calls, peak in flight, the portal's CPU and each engine's share, over ``engine_urls``."""
                use(engine_urls)
                counter.rtt_s = rtt_ms / 1000
                assert len(get()) == expected, "every container is in the answer"
                p50s = [p50_ms(get, repeat=args.repeat) for _ in range(args.rounds)]
                part = [measured(f"GET /containers p50, {label}", p50s, "ms")]
                calls, peaks, slowest, median_engine, cpu = [], [], [], [], []
                for _ in range(args.rounds):
                    counter.reset()
                    cpu_before = time.process_time()
                    get()
                    cpu.append((time.process_time() - cpu_before) * 1000)
                    calls.append(sum(counter.calls.values()))
                    peaks.append(counter.peak)
                    spans = counter.per_engine_ms()
                    slowest.append(max(spans))
                    median_engine.append(statistics.median(spans))
                counter.rtt_s = 0
                part += [
                    measured(f"Docker API calls a request, {label}", calls, "calls"),
                    measured(f"calls in flight at once (peak), {label}", peaks, "calls"),
                    measured(f"the portal's CPU a request (all its threads), {label}", cpu, "ms"),
                    measured(f"the portal's CPU per container, {label}", [c / expected for c in cpu], "ms"),
                    measured(f"one engine's share of a request (median engine), {label}", median_engine, "ms"),
                    measured(f"one engine's share of a request (slowest engine), {label}", slowest, "ms"),
                ]
                print(table(part), f"\n  calls by kind: {counter.by_kind()}", flush=True)
                figures.extend(part)

            for n in sorted({n for n in (1, 2, 4, len(urls)) if n <= len(urls)}):
                fleet_figures(f"{sum(per_engine[:n])} containers on {n} engines", urls[:n], sum(per_engine[:n]))
            if args.rtt_ms:
                fleet_figures(f"{sum(per_engine)} containers on {len(urls)} engines, {args.rtt_ms:g} ms simulated "
                              "round trip", urls, sum(per_engine), args.rtt_ms)  # fmt: skip
            if args.aliases:
                # More engines than dockerds: each URL spelled differently is another client, connection
                # pool and fan-out slot to the portal; the dockerd behind it is shared.
                aliased = [_alias(urls[i % len(urls)], i // len(urls)) for i in range(args.aliases)]
                expected = sum(per_engine[i % len(urls)] for i in range(args.aliases))
                label = f"{expected} containers on {args.aliases} engine URLs over {len(urls)} dockerd"
                fleet_figures(label, aliased, expected)
                if args.rtt_ms:
                    fleet_figures(f"{label}, {args.rtt_ms:g} ms simulated round trip", aliased, expected, args.rtt_ms)
            total = sum(per_engine)
            use(urls)
            # The inspect fan-out: containers.POOL_SIZE inspects in flight per engine. (The engines themselves
            # are asked 8 at a time: ``_parallel``'s default, bound when the module loaded.)
            default_pool = containers.POOL_SIZE
            for size in (1, 4):
                containers.POOL_SIZE = size
                p50s = [p50_ms(get, repeat=args.repeat) for _ in range(args.rounds)]
                name = f"GET /containers p50, {total} on {len(urls)} engines, {size} inspects at a time per engine"
                part = measured(name, p50s, "ms")
                print(table([part]), flush=True)
                figures.append(part)
            containers.POOL_SIZE = default_pool
            # With stats: one sample per running container, beside the inspects.
            p50s = [p50_ms(lambda: get(include_stats="true"), repeat=3, warmup=1) for _ in range(args.rounds)]
            calls, peaks = [], []
            for _ in range(args.rounds):
                counter.reset()
                get(include_stats="true")
                calls.append(sum(counter.calls.values()))
                peaks.append(counter.peak)
            running = args.running * len(urls)
            part = [
                measured(
                    f"GET /containers?include_stats=true p50, {total} on {len(urls)} engines, {running} running",
                    p50s,
                    "ms",
                ),  # fmt: skip
                measured(f"Docker API calls a request with stats, {len(urls)} engines", calls, "calls"),
                measured(f"calls in flight at once with stats (peak), {len(urls)} engines", peaks, "calls"),
            ]
            print(table(part), f"\n  calls by kind: {counter.by_kind()}", flush=True)
            figures += part
    finally:
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(lambda e: e.destroy(), engines))
    print(f"written to {record(args.record, figures, settings=vars(args))}")


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
