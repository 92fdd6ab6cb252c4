"""Live log follow through the production serving model (the Procfile's gunicorn line, threaded workers).

    python -m bench.logs_follow [--followers 20] [--seconds 10] [--repeat 200]

On a private Docker engine and a private PostgreSQL, in one run:
1. lines per second one follower receives from a container writing as fast as it can (``flood``),
   against what the container wrote meanwhile, and the portal's CPU while it follows;
2. the portal's CPU per follower: 20 followers of a container writing 5 lines a second, against the
   same seconds with none;
3. ``GET /api/ops/plannings``'s p50 with no follower, then with the 20 open, in alternating rounds: the
   median ratio.
1. and 2. are measured --rounds times too. CPU is the gunicorn processes' user + system time from
/proc, as a share of one CPU. Figures: medians of the rounds with their range, printed and written
to ``var/bench/logs_follow.json`` (``bench.figures``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.common import ROOT, private_postgres_django
from bench.figures import measured, ratio, record, table
from scripts.servers.postgres import free_port
from scripts.servers.process import process_stop

IMAGE = "opsportal/busybox:test"
FLOOD = 'i=0; while true; do echo "flood $i the quick brown fox jumps over the lazy dog"; i=$((i+1)); done'
TICKER = 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'
OPS_TOKEN = "bench-token-of-at-least-32-characters-long"  # noqa: S105 (a private test server's)
TICKS = os.sysconf("SC_CLK_TCK")


def procfile_web(env: dict[str, str]) -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web: "))
    command = line.removeprefix("web: ").replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1)) or m.group(2) or "", command)


def process_tree(root: int) -> list[int]:
    pids, changed = {root}, True
    while changed:
        changed = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if ppid in pids and pid not in pids:
                pids.add(pid)
                changed = True
    return sorted(pids)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


class Follower(threading.Thread):
    """One client of ``?follow=true``: counts the lines it receives."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.lines, self.started, self.stop, self.error = 0, threading.Event(), threading.Event(), None
        self.last_text = ""

    def run(self):
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=30)) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                if response.status_code != 200:
                    self.error = f"{response.status_code} {response.read()[:200]!r}"
                    return
                self.started.set()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.lines += 1
                        self.last_text = line
                    if self.stop.is_set():
                        return
        except httpx.HTTPError as exc:
            self.error = repr(exc)
        finally:
            self.started.set()


def open_followers(url: str, headers: dict, count: int) -> list[Follower]:
    followers = [Follower(url, headers) for _ in range(count)]
    for one in followers:
        one.start()
    for one in followers:
        one.started.wait(10)
    failed = [one.error for one in followers if one.error]
    if failed:
        raise RuntimeError(f"followers refused: {failed[:3]}")
    time.sleep(1)
    return followers


def close_followers(followers: list[Follower]) -> None:
    for one in followers:
        one.stop.set()
    for one in followers:
        one.join(5)
    time.sleep(1)  # the portal notices at its next write (the ticker writes 5 lines a second)


def written_so_far(container) -> int:
    """The flood container's own line counter, from the engine (its newest line)."""
    return int(container.logs(tail=1).decode().split("flood ", 1)[1].split()[0])


def health_p50(base: str, repeat: int) -> float:
    samples = []
    with httpx.Client(timeout=10) as client:
        for index in range(repeat + 5):
            started = time.perf_counter()
            response = client.get(f"{base}/api/ops/plannings", headers={"x-ops-token": OPS_TOKEN})
            if response.status_code != 200:
                raise RuntimeError(f"health answered {response.status_code}")
            if index >= 5:
                samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import docker

    from scripts.servers.docker import PrivateDocker, busybox_image

    engine = PrivateDocker()
    engine.start()
    server = None
    try:
        busybox_image(engine.url, IMAGE)
        client = docker.DockerClient(base_url=engine.url, version="1.41", timeout=120)
        for name, script in (("flood", FLOOD), ("ticker", TICKER)):
            client.containers.run(IMAGE, ["/bin/sh", "-c", script], name=f"wallet-core-bench-{name}-1", detach=True,
                                  init=True, network_mode="host",
                                  labels={"service": "wallet-core-bench", "role": name})  # fmt: skip
        with private_postgres_django() as database_url:
            from opsportal.api.tokens import api_token_create

            token = api_token_create(name="bench", scopes=["read"]).secret
            port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "DJANGO_ENV": "test",
                "OPS_TOKEN": OPS_TOKEN,
                "PORT": str(port),
                "WALLETOPS_ENVS": "bench",
                "WALLETOPS_DOCKER_HOSTS": f"bench={engine.url}",
                "WALLETOPS_LOG_STREAMS_TOTAL": str(max(args.followers + 4, 16)),
                "WALLETOPS_LOG_STREAMS_PER_USER": str(args.followers + 4),
                "WEB_THREADS": str(max(32, args.followers + 8)),
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            }
            command = procfile_web(env)
            print(f"serving: {command}")
            server = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {command} --log-level warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
            )  # fmt: skip (the access log)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/ops/plannings", headers={"x-ops-token": OPS_TOKEN}).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start")
                time.sleep(0.2)
            pids = process_tree(server.pid)
            headers = {"Authorization": f"Bearer {token}"}
            logs = f"{base}/api/v1/admin/ops/containers/wallet-core-bench-{{}}-1/logs?env=bench&follow=true&tail=0"

            figures = []

            # 1. One follower of a container writing as fast as it can, --rounds times.
            flood = client.containers.get("wallet-core-bench-flood-1")
            received_rates, written_rates, cpu_floods, lags = [], [], [], []
            for _ in range(args.rounds):
                follower = Follower(logs.format("flood"), headers)
                follower.start()
                follower.started.wait(10)
                time.sleep(1)
                first_lines, cpu_before, started = follower.lines, cpu_seconds(pids), time.monotonic()
                written_before = written_so_far(flood)
                time.sleep(args.seconds)
                received = follower.lines - first_lines
                written = written_so_far(flood) - written_before
                elapsed = time.monotonic() - started
                cpu_floods.append((cpu_seconds(pids) - cpu_before) / elapsed * 100)
                lags.append(written_so_far(flood) - int(follower.last_text.split("flood ", 1)[1].split()[0]))
                received_rates.append(received / elapsed)
                written_rates.append(written / elapsed)
                follower.stop.set()
                follower.join(5)
                time.sleep(1)
            flood.stop(timeout=1)
            part = [
                measured("one follower of a flood: lines/s received", received_rates, "lines/s"),
                measured("the flood container: lines/s written", written_rates, "lines/s"),
                measured("the follower's lag at the end", lags, "lines"),
                measured("the portal's CPU following a flood", cpu_floods, "% of a CPU"),
            ]
            print(
                f"1 follower of a container writing as fast as it can: {part[0].value:,.0f} lines/s received, "
                f"the container wrote {part[1].value:,.0f} lines/s (the follower ended {part[2].value:,.0f} lines "
                f"behind); portal CPU {part[3].value:.0f} % of one CPU (medians of {args.rounds} rounds)"
            )  # fmt: skip
            figures += part
            time.sleep(2)

            # 2. N followers of a container writing 5 lines a second, against the same seconds with none.
            cpu_idles, cpu_opens, per_followers, delivered_rates, alive_counts = [], [], [], [], []
            for _ in range(args.rounds):
                cpu_before, started = cpu_seconds(pids), time.monotonic()
                time.sleep(args.seconds)
                cpu_idle = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - started) * 100
                followers = open_followers(logs.format("ticker"), headers, args.followers)
                counts = [one.lines for one in followers]
                cpu_before, started = cpu_seconds(pids), time.monotonic()
                time.sleep(args.seconds)
                elapsed = time.monotonic() - started
                cpu_open = (cpu_seconds(pids) - cpu_before) / elapsed * 100
                delivered_rates.append((sum(one.lines for one in followers) - sum(counts)) / elapsed)
                alive_counts.append(sum(1 for one in followers if one.is_alive() and not one.error))
                close_followers(followers)
                cpu_idles.append(cpu_idle)
                cpu_opens.append(cpu_open)
                per_followers.append((cpu_open - cpu_idle) / args.followers)
            part = [
                measured(f"{args.followers} followers of 5 lines/s: lines/s delivered in all", delivered_rates,
                         "lines/s"),
                measured(f"the portal's CPU with {args.followers} followers", cpu_opens, "% of a CPU"),
                measured("the portal's CPU with none", cpu_idles, "% of a CPU"),
                measured("the portal's CPU per follower", per_followers, "% of a CPU"),
                measured("followers still open at the end", alive_counts, "followers"),
            ]  # fmt: skip
            print(f"{args.followers} followers of a container writing 5 lines/s: {part[0].value:,.0f} lines/s "
                  f"delivered in all; portal CPU {part[1].value:.1f} % of one CPU (idle {part[2].value:.1f} %): "
                  f"{part[3].value:.2f} % per follower; {part[4].value:.0f} still open at the end "
                  f"(medians of {args.rounds} rounds)")  # fmt: skip
            figures += part

            # 3. Health with no follower, then with N open, in alternating rounds (the machine's noise is shared).
            rounds = []
            for _ in range(args.rounds):
                idle_p50 = health_p50(base, args.repeat)
                followers = open_followers(logs.format("ticker"), headers, args.followers)
                open_p50 = health_p50(base, args.repeat)
                close_followers(followers)
                rounds.append((idle_p50, open_p50))
            print("GET /api/ops/plannings p50, no follower -> {} open: {}; median ratio {:.2f}".format(
                args.followers,
                ", ".join(f"{idle:.2f} -> {busy:.2f} ms" for idle, busy in rounds),
                statistics.median(busy / idle for idle, busy in rounds),
            ))  # fmt: skip
            idle = measured("GET /api/ops/plannings p50, no follower", [idle for idle, _ in rounds], "ms")
            busy = measured(f"GET /api/ops/plannings p50, {args.followers} followers open",
                            [busy for _, busy in rounds], "ms")  # fmt: skip
            figures += [idle, busy, ratio(f"plannings p50 with {args.followers} followers / none", busy, idle)]
            print(table(figures))
            print(f"written to {record('logs_follow', figures, settings=vars(args))}")
    finally:
        if server is not None:
            process_stop(server, timeout=10)
        engine.destroy()


if __name__ == "__main__":
    main()
