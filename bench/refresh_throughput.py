"""Refresh throughput on PostgreSQL against feeds served locally.

    python -m bench.refresh_throughput [--plannings 2000] [--slow-plannings 200] [--rounds 3]
                                       [--feed-server lean|python] [--shared-only]

The CPU-bound sections (1, 2, 5) fetch from ``bench.lean_feeds`` (one asyncio process answering
pre-built bytes over keep-alive connections) on four loopback hosts, 127.0.0.1-4, the feeds
interleaved: the drains, the feed server and PostgreSQL share the machine's cores, and the lean
server leaves them to the drains (``--feed-server python`` measures with ``scripts.servers.feeds``,
a thread per connection, for comparison). Each run prints the CPU each side spent per planning.

1. One drain process over N plannings (40-event feeds, no latency), against the floor: the
   worker's own fetch and parse of the same feeds in a bare loop (no queue, no threads, no
   database); and the same drain without recording the attempt history, for that history's cost.
2. Two drain processes over the same N, against one: the per-host limit (2) shared by both
   through leased slots, as in production (four hosts: the limit is not what caps two drains).
3. With 200 ms of server latency: default limits (concurrency 2, 2 per host),
   then concurrency 16 with 16 per host, then concurrency 16 but 2 per host,
   showing which limit governs.
4. The shared per-host limit (``--shared-only`` runs just this): 4 drain processes over two
   feed hosts (127.0.0.1 and 127.0.0.2, 100 ms latency each: the servers, not the CPU, set the
   pace), the limit of 4 per host shared by all four through leased slots, against the same
   politeness without sharing (1 per host in each of the 4 drains); prints each host's peak of
   concurrent requests, as the feed servers recorded it, and the throughput ratio shared / unshared.
5. The side-table triggers (plannings migrations 0010, 0011, 0014) on the refresh writes: one drain
   with them disabled (``ALTER TABLE ... DISABLE TRIGGER``, this bench's private server only)
   against enabled, and the time to write one batch of 50 successes both ways.
Every figure is the median of --rounds rounds (the measurements interleaved), printed with its
range and written to var/bench/refresh_throughput.json; a ratio is the ratio of the two medians
printed beside it (``bench.figures.ratio``), its range the rounds' own ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx

from bench.common import ROOT, private_postgres_django
from bench.figures import Figure, measured, ratio, record, table
from scripts.servers.postgres import free_port

PARIS = ZoneInfo("Europe/Paris")
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
SERVED_BY = {
    "lean": "bench.lean_feeds (one asyncio process, pre-built answers, keep-alive)",
    "python": "scripts.servers.feeds (http.server, a thread per connection)",
}


def _wait_up(process: subprocess.Popen, url: str, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_reset", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start")


def start_feed_server() -> tuple[subprocess.Popen, str]:
    """``scripts.servers.feeds`` on 127.0.0.1 (every feed path; the other benches' server)."""
    process, (url,) = start_feeds("python")
    return process, url


def start_feeds(kind: str, binds: tuple[str, ...] = ("127.0.0.1",)) -> tuple[subprocess.Popen, list[str]]:
    """A feed server process answering on every address of ``binds``; returns it and one base URL per address."""
    port = free_port()
    if kind == "lean":
        command = [sys.executable, "-m", "bench.lean_feeds", "--port", str(port)]
        for bind in binds:
            command += ["--bind", bind]
    else:  # scripts.servers.feeds binds one address
        (bind,) = binds
        command = [sys.executable, "-m", "scripts.servers.feeds", "--port", str(port), "--bind", bind]
    process = subprocess.Popen(command, cwd=ROOT)
    urls = [f"http://{bind}:{port}" for bind in binds]
    for url in urls:
        _wait_up(process, url, f"feed server ({kind})")
    return process, urls


def feed_urls(bases: list[str], count: int, query: str) -> list[str]:
    """``count`` feed URLs, the hosts interleaved (every batch holds every host's feeds)."""
    return [f"{bases[i % len(bases)]}/ok/p{i}.ics?{query}" for i in range(count)]


# --- CPU accounting: where the two cores go ------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def process_cpu(pid: int, *, children: bool = False) -> float:
    """CPU seconds (user + system, every thread) ``pid`` spent; with its reaped children's if asked."""
    fields = _stat(pid)  # fields[0] is the state: utime is [11], stime [12], cutime [13], cstime [14]
    return sum(int(v) for v in fields[11 : 15 if children else 13]) / TICK


def postgres_cpu(postmaster: int) -> float:
    """The cluster's CPU seconds: the postmaster with its exited backends, plus the live ones."""
    total = process_cpu(postmaster, children=True)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if int(_stat(int(name))[1]) == postmaster:
                    total += process_cpu(int(name))
            except (OSError, IndexError, ValueError):
                pass  # gone meanwhile
    return total


def postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    return int(_stat(backend)[1])


@dataclass(frozen=True)
class Meter:
    """Where to read the CPU of the feed server and of PostgreSQL."""

    server: int
    postmaster: int

    def read(self) -> tuple[float, float]:
        return process_cpu(self.server), postgres_cpu(self.postmaster)


@dataclass(frozen=True)
class Run:
    """One measured run: plannings per second and the CPU seconds each side spent on it."""

    rate: float
    plannings: int
    client_cpu: float  # the drain processes (or the bare loop)
    server_cpu: float
    postgres_cpu: float


CPU_SIDES = {"client_cpu": "drain(s)/loop", "server_cpu": "feed server", "postgres_cpu": "PostgreSQL"}


def cpu_figures(label: str, runs: list[Run]) -> list[Figure]:
    """Milliseconds of CPU per planning for each side of ``runs``, and the cores they kept busy."""
    result = [
        measured(f"{label}: CPU of {name}", [1000 * getattr(r, side) / r.plannings for r in runs], "ms/planning")
        for side, name in CPU_SIDES.items()
    ]
    busy = [(r.client_cpu + r.server_cpu + r.postgres_cpu) * r.rate / r.plannings for r in runs]
    result.append(measured(f"{label}: cores busy (all three)", busy, "cores"))
    return result


# --- 1., 2. and 5.: the drains and their floor -------------------------------------------------


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


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor_run(urls: list[str], meter: Meter | None = None) -> Run:
    """The worker's own fetch and parse in a bare loop: no queue, no threads, no database."""
    from plannings import feeds

    config = feeds.FeedSettings.from_settings()
    server0, postgres0 = meter.read() if meter else (0.0, 0.0)
    cpu0, start = _own_cpu(), time.perf_counter()
    with feeds.feed_client(config) as client:
        for url in urls:
            feeds.feed_parse(feeds.feed_fetch(client, url, config=config), zone=config.zone)
    elapsed, cpu = time.perf_counter() - start, _own_cpu() - cpu0
    server1, postgres1 = meter.read() if meter else (0.0, 0.0)
    return Run(len(urls) / elapsed, len(urls), cpu, server1 - server0, postgres1 - postgres0)


def floor_rate(urls: list[str]) -> float:
    return floor_run(urls).rate


def _drain_child(limits, record, barrier, results) -> None:
    from django.db import connections

    from plannings import jobs

    connections.close_all()  # never share the parent's connection across fork
    barrier.wait()
    start, cpu = time.perf_counter(), _own_cpu()
    owner = f"bench-{multiprocessing.current_process().pid}"
    result = jobs.refresh_drain(owner=owner, limits=limits, record_attempts=record)
    results.put((start, time.perf_counter(), result.succeeded, _own_cpu() - cpu))


def drain_run(processes: int, *, meter: Meter | None = None, record: bool = True, **limit_overrides) -> Run:
    """``processes`` drain processes started together: plannings refreshed per second, and the CPU spent."""
    from django.db import connections

    from plannings.jobs import DrainLimits

    values = {"batch_size": 50, "concurrency": 2, "per_host": 2, "budget": timedelta(hours=1), "max_attempts": 10}
    limits = DrainLimits(**{**values, **limit_overrides})
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.Queue()
    connections.close_all()
    server0, postgres0 = meter.read() if meter else (0.0, 0.0)
    children = [context.Process(target=_drain_child, args=(limits, record, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=3600) for _ in children]
    for child in children:
        child.join()
    server1, postgres1 = meter.read() if meter else (0.0, 0.0)
    succeeded = sum(o[2] for o in outcomes)
    rate = succeeded / (max(o[1] for o in outcomes) - min(o[0] for o in outcomes))
    return Run(rate, succeeded, sum(o[3] for o in outcomes), server1 - server0, postgres1 - postgres0)


def drain_rate(processes: int, *, record: bool = True, **limit_overrides) -> float:
    """Plannings refreshed per second by ``processes`` drain processes started together."""
    return drain_run(processes, record=record, **limit_overrides).rate


# The side tables' triggers on the tables a drain writes (plannings migrations 0010_flat_health_reads,
# 0011_flat_failure_figures, 0014_planning_without_backup).
SIDE_TRIGGERS = r"""
SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND t.tgname ~ '_(side|failures|no_backup)_(insert|update|delete|truncate|moved)$'
ORDER BY 1, 2
"""


def side_triggers(*, enabled: bool) -> int:
    """Enable or disable the side tables' triggers (this bench's private server only); returns how many."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SIDE_TRIGGERS)
        triggers = cursor.fetchall()
        for table_name, trigger in triggers:
            cursor.execute(f'ALTER TABLE {table_name} {"ENABLE" if enabled else "DISABLE"} TRIGGER "{trigger}"')
    return len(triggers)


def batch_write_ms(urls: list[str], batch: int = 50) -> float:
    """The median time to write one batch of ``batch`` successes (backups, queue rows, states,
    attempts: ``services.refresh_items_succeeded``), the feeds fetched and parsed beforehand."""
    import statistics

    from django.utils import timezone

    from plannings import feeds, services
    from plannings.backups import backup_prepare
    from plannings.models import RefreshAttempt

    config = feeds.FeedSettings.from_settings()
    with feeds.feed_client(config) as client:
        backups = [backup_prepare(feeds.feed_parse(feeds.feed_fetch(client, u, config=config), zone=config.zone))
                   for u in urls[:batch]]  # fmt: skip
    queue(urls)
    times = []
    while True:
        now = timezone.now()
        items = services.refresh_queue_claim(owner="bench-writes", limit=batch, now=now, max_attempts=10)
        if not items:
            break
        successes = list(zip(items, backups, strict=False))
        attempts = [
            RefreshAttempt(planning_id=item.planning_full_id, started_at=now, finished_at=now,
                           outcome=RefreshAttempt.SUCCESS, events=backup.nb_events, worker="bench-writes")
            for item, backup in successes
        ]  # fmt: skip
        start = time.perf_counter()
        services.refresh_items_succeeded(successes=successes, owner="bench-writes", now=now, attempts=attempts)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# --- 4. The shared per-host limit (issue #22) ------------------------------------------------

SHARED_DRAINS = 4
SHARED_LIMIT = 4
SHARED_LATENCY = 0.1  # seconds a feed server takes to answer: a university's server, not a local file


def _start_host(bind: str) -> tuple[subprocess.Popen, str]:
    """A feed server process on its own loopback address: one more "host" for the per-host limit."""
    port = free_port()
    command = [sys.executable, "-m", "scripts.servers.feeds", "--port", str(port), "--bind", bind]
    process = subprocess.Popen(command, cwd=ROOT)
    url = f"http://{bind}:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_reset", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"feed server on {bind} did not start")


def _peaks(urls: list[str]) -> dict[str, int]:
    peaks: dict[str, int] = {}
    for url in urls:
        peaks.update(httpx.get(f"{url}/_peaks", timeout=5).json())
    return peaks


def _reset(urls: list[str]) -> None:
    for url in urls:
        httpx.get(f"{url}/_reset", timeout=5)


def shared_figures(rates: dict[str, list[float]]) -> list[Figure]:
    """The shared and unshared throughputs (medians of the rounds) and their ratio: the ratio of
    those two printed medians, its range the rounds' own ratios."""
    shared = measured("shared (4 per host shared by all)", rates["shared"], "plannings/s")
    unshared = measured("unshared (1 per host in each drain)", rates["unshared"], "plannings/s")
    return [shared, unshared, ratio("shared / unshared throughput", shared, unshared)]


def shared_limit(per_host_feeds: int, rounds: int) -> list[Figure]:
    """Shared limit vs the same politeness unshared, interleaved rounds; prints peaks and the ratio."""
    servers = [_start_host(bind) for bind in ("127.0.0.1", "127.0.0.2")]
    hosts = [url for _, url in servers]
    try:
        feeds = []
        for i in range(per_host_feeds):  # interleaved: every batch holds both hosts' feeds
            feeds += [f"{url}/ok/h{n}p{i}.ics?events=10&delay={SHARED_LATENCY}" for n, url in enumerate(hosts)]
        runs: dict[str, list[float]] = {"shared": [], "unshared": []}
        peaks: dict[str, list[dict[str, int]]] = {"shared": [], "unshared": []}
        settings = {
            "shared": {"per_host": SHARED_LIMIT, "shared_per_host": True},
            "unshared": {"per_host": SHARED_LIMIT // SHARED_DRAINS, "shared_per_host": False},
        }
        for _ in range(rounds):
            for label, overrides in settings.items():
                queue(feeds)
                _reset(hosts)
                runs[label].append(drain_rate(SHARED_DRAINS, concurrency=4, **overrides))
                peaks[label].append(_peaks(hosts))
        print(
            f"\nshared per-host limit: {SHARED_DRAINS} drain processes, 2 hosts x {per_host_feeds} feeds "
            f"({SHARED_LATENCY * 1000:.0f} ms latency, served by {SERVED_BY['python']}), {rounds} rounds"
        )
        for label in settings:
            worst = {host: max(p.get(host, 0) for p in peaks[label]) for host in sorted(peaks[label][0])}
            print(f"  {label}: peak concurrent requests per host {worst}")
        figures = shared_figures(runs)
        print(table(figures))
        print(f"  cost of sharing: {100 * (1 - figures[-1].value):.1f} %")
        return figures
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=10)


def drains(args, meter: Meter, urls: list[str]) -> list[Figure]:
    """1., 2. and 5.: interleaved rounds of the floor, one drain (history on, off; triggers off), two drains."""
    measurements = {"floor": [], "one": [], "bare": [], "two": [], "untriggered": []}
    writes: dict[str, list[float]] = {"on": [], "off": []}
    write_cpu: dict[str, list[float]] = {"on": [], "off": []}  # PostgreSQL's, per planning written

    def write(label: str) -> None:
        postgres0 = meter.read()[1]
        writes[label].append(batch_write_ms(urls))
        write_cpu[label].append(1000 * (meter.read()[1] - postgres0) / len(urls))

    for _ in range(args.rounds):
        measurements["floor"].append(floor_run(urls, meter))
        queue(urls)
        measurements["one"].append(drain_run(1, meter=meter))
        queue(urls)
        measurements["bare"].append(drain_run(1, meter=meter, record=False))
        queue(urls)
        measurements["two"].append(drain_run(2, meter=meter))
        write("on")
        side_triggers(enabled=False)
        try:
            queue(urls)
            measurements["untriggered"].append(drain_run(1, meter=meter))
            write("off")
        finally:
            side_triggers(enabled=True)
    rates = {key: [run.rate for run in runs] for key, runs in measurements.items()}
    floor = measured("bare fetch+parse loop (floor)", rates["floor"], "plannings/s")
    one = measured("1 drain process", rates["one"], "plannings/s")
    bare = measured("1 drain, no attempt history", rates["bare"], "plannings/s")
    two = measured("2 drain processes (per-host limit shared)", rates["two"], "plannings/s")
    untriggered = measured("1 drain, side-table triggers off", rates["untriggered"], "plannings/s")
    write_on = measured("write a batch of 50, triggers on", writes["on"], "ms")
    write_off = measured("write a batch of 50, triggers off", writes["off"], "ms")
    write_cpu_on = measured("PostgreSQL CPU writing, triggers on", write_cpu["on"], "ms/planning")
    write_cpu_off = measured("PostgreSQL CPU writing, triggers off", write_cpu["off"], "ms/planning")
    result = [
        floor,
        one,
        ratio("1 drain / floor", one, floor, goal_min=0.8),
        bare,
        # The history's cost: with it on, the drain runs at this share of its rate without.
        ratio("history on / off", one, bare),
        two,
        ratio("2 drains / 1 drain", two, one, goal_min=1.8),
        untriggered,
        ratio("triggers on / off (drain throughput)", one, untriggered),
        write_on,
        write_off,
        ratio("triggers on / off (batch write time)", write_on, write_off),
        write_cpu_on,
        write_cpu_off,
        ratio("triggers on / off (PostgreSQL CPU writing)", write_cpu_on, write_cpu_off),
    ]
    print(f"\nfeeds served by {SERVED_BY[args.feed_server]} on {len(set(u.split('/')[2] for u in urls))} hosts")
    print(table(result))
    cpu = []
    for key, label in (("floor", "floor"), ("one", "1 drain"), ("two", "2 drains")):
        cpu += cpu_figures(label, measurements[key])
    print("\nCPU per planning (user + system, every thread; PostgreSQL: postmaster and its backends)")
    print(table(cpu))
    return result + cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plannings", type=int, default=2000)
    parser.add_argument("--slow-plannings", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure; medians are reported")
    parser.add_argument("--shared-feeds", type=int, default=400, help="feeds per host for the shared-limit runs")
    parser.add_argument("--shared-only", action="store_true", help="run only the shared per-host limit (4.)")
    parser.add_argument("--feed-server", choices=sorted(SERVED_BY), default="lean", help="what serves 1., 2., 3., 5.")
    args = parser.parse_args()
    if args.shared_only:
        with private_postgres_django():
            shared_limit(args.shared_feeds, args.rounds)
        return
    binds = HOSTS if args.feed_server == "lean" else HOSTS[:1]
    server, bases = start_feeds(args.feed_server, binds)
    try:
        with private_postgres_django():
            meter = Meter(server=server.pid, postmaster=postmaster_pid())
            urls = feed_urls(bases, args.plannings, "events=40")
            floor_run(urls)  # warm the server's answers
            result = drains(args, meter, urls)

            # One host: "2 per host" must be the limit it names.
            slow = feed_urls(bases[:1], args.slow_plannings, "events=40&delay=0.2")
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
            result += shared_limit(args.shared_feeds, args.rounds)
            settings = {
                "plannings": args.plannings,
                "slow_plannings": args.slow_plannings,
                "rounds": args.rounds,
                "feed_server": SERVED_BY[args.feed_server],
                "hosts": len(binds),
            }
            print(f"written to {record('refresh_throughput', result, settings=settings)}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
