"""Refresh throughput on PostgreSQL against feeds served locally.

    python -m bench.refresh_throughput [--plannings 2000] [--slow-plannings 200] [--rounds 3]

1. One drain process over N plannings (40-event feeds, no latency), against the
   floor: the worker's own fetch and parse of the same feeds in a bare loop
   (no queue, no threads, no database); and the same drain without recording
   the attempt history, for that history's cost.
2. Two drain processes over the same N, against one.
3. With 200 ms of server latency: default limits (concurrency 2, 2 per host),
   then concurrency 16 with 16 per host, then concurrency 16 but 2 per host,
   showing which limit governs.
The feed server runs in its own process so it does not share the GIL. Every figure is the
median of --rounds rounds (the measurements interleaved), printed with its range and written
to var/bench/refresh_throughput.json; a ratio is the ratio of the two medians printed beside it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx

from bench.common import ROOT, private_postgres_django
from bench.figures import measured, ratio, record, table
from scripts.servers.postgres import free_port

PARIS = ZoneInfo("Europe/Paris")


def start_feed_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "scripts.servers.feeds", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/ok/warmup.ics", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("feed server did not start")


def queue(urls: list[str]) -> None:
    from django.utils import timezone

    from plannings.models import Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState, RefreshAttempt

    RefreshAttempt.objects.all().delete()
    Planning.objects.all().delete()
    PlanningBackup.objects.all().delete()
    PlanningRefreshState.objects.all().delete()
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"bench.p{i}", planning_id="bench", url=url, title=str(i)) for i, url in enumerate(urls)
    )
    now = timezone.now()
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)


def floor_rate(urls: list[str]) -> float:
    """The worker's own fetch and parse in a bare loop: no queue, no threads, no database."""
    from plannings import feeds

    config = feeds.FeedSettings.from_settings()
    start = time.perf_counter()
    with feeds.feed_client(config) as client:
        for url in urls:
            feeds.feed_parse(feeds.feed_fetch(client, url, config=config), zone=config.zone)
    return len(urls) / (time.perf_counter() - start)


def _drain_child(limits, record, barrier, results) -> None:
    from django.db import connections

    from plannings import jobs

    connections.close_all()  # never share the parent's connection across fork
    barrier.wait()
    start = time.perf_counter()
    owner = f"bench-{multiprocessing.current_process().pid}"
    result = jobs.refresh_drain(owner=owner, limits=limits, record_attempts=record)
    results.put((start, time.perf_counter(), result.succeeded))


def drain_rate(processes: int, *, record: bool = True, **limit_overrides) -> float:
    """Plannings refreshed per second by ``processes`` drain processes started together."""
    from django.db import connections

    from plannings.jobs import DrainLimits

    values = {"batch_size": 50, "concurrency": 2, "per_host": 2, "budget": timedelta(hours=1), "max_attempts": 10}
    limits = DrainLimits(**{**values, **limit_overrides})
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.Queue()
    connections.close_all()
    children = [context.Process(target=_drain_child, args=(limits, record, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=3600) for _ in children]
    for child in children:
        child.join()
    succeeded = sum(o[2] for o in outcomes)
    return succeeded / (max(o[1] for o in outcomes) - min(o[0] for o in outcomes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plannings", type=int, default=2000)
    parser.add_argument("--slow-plannings", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="floor/drain rounds; medians are reported")
    args = parser.parse_args()
    server, feeds_url = start_feed_server()
    try:
        with private_postgres_django():
            urls = [f"{feeds_url}/ok/p{i}.ics?events=40" for i in range(args.plannings)]
            floor_rate(urls)  # warm the server's feed cache
            # The machine is noisy: interleave the three measurements and report medians.
            floors, ones, bares, twos = [], [], [], []
            for _ in range(args.rounds):
                floors.append(floor_rate(urls))
                queue(urls)
                ones.append(drain_rate(1))
                queue(urls)
                bares.append(drain_rate(1, record=False))
                queue(urls)
                twos.append(drain_rate(2))
            floor = measured("bare fetch+parse loop (floor)", floors, "plannings/s")
            one = measured("1 drain process", ones, "plannings/s")
            bare = measured("1 drain, no attempt history", bares, "plannings/s")
            two = measured("2 drain processes", twos, "plannings/s")
            result = [
                floor,
                one,
                ratio("1 drain / floor", one, floor, goal_min=0.8),
                bare,
                # The history's cost: with it on, the drain runs at this share of its rate without.
                ratio("history on / off", one, bare),
                two,
                ratio("2 drains / 1 drain", two, one, goal_min=1.8),
            ]
            print(table(result))

            slow = [f"{feeds_url}/ok/s{i}.ics?events=40&delay=0.2" for i in range(args.slow_plannings)]
            for label, limits in [
                ("200 ms latency, concurrency 2, 2 per host", {}),
                ("200 ms latency, concurrency 16, 16 per host", {"concurrency": 16, "per_host": 16}),
                ("200 ms latency, concurrency 16, 2 per host", {"concurrency": 16, "per_host": 2}),
            ]:
                rates = []
                for _ in range(args.rounds):
                    queue(slow)
                    rates.append(drain_rate(1, **limits))
                result.append(measured(label, rates, "plannings/s"))
                print(table(result[-1:]))
            settings = {"plannings": args.plannings, "slow_plannings": args.slow_plannings, "rounds": args.rounds}
            print(f"written to {record('refresh_throughput', result, settings=settings)}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
