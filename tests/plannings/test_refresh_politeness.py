"""The per-host limit across a fleet: drain processes in two process groups ("machines", each with its
own environment) against real feed servers that record the peak of concurrent requests per host."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.db.models import Max, Min, Value
from django.db.models.functions import Replace
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plannings import jobs, slots
from plannings.models import HostSlot, Planning, PlanningBackup, PlanningRefreshQueue, RefreshAttempt
from scripts.servers.feeds import FeedServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres_only
START_WAIT = 300  # Django imported afresh by each process: minutes on an overloaded machine
LIMIT = 2
HOST_SLOTS = HostSlot._meta.db_table


@pytest.fixture(scope="module")
def second_feed_server():
    """Another host: the same feeds on 127.0.0.2 (all of 127/8 is loopback)."""
    server = FeedServer(("127.0.0.2", 0)).start()
    yield server
    server.stop()


@pytest.fixture
def second_host(second_feed_server):
    second_feed_server.reset()
    return second_feed_server


def _queue(prefix: str, urls: list[str]) -> list[str]:
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"{prefix}.p{i}", planning_id=prefix, url=url, title=f"p{i}") for i, url in enumerate(urls)
    )
    now = timezone.now()
    PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p, next_attempt_at=now) for p in plannings)
    return [p.full_id for p in plannings]


class Machine:
    """Drain processes in one process group with their own environment: one worker machine."""

    def __init__(self, name: str, env: dict, tmp_path: Path, drains: int):
        self.go = tmp_path / f"{name}.go"
        self.ready = [tmp_path / f"{name}.{i}.ready" for i in range(drains)]
        env = {**env, "OPSPORTAL_VAR_DIR": str(tmp_path / name), "TMPDIR": str(tmp_path)}
        self.processes: list[subprocess.Popen] = []
        for ready in self.ready:
            group = {"process_group": self.processes[0].pid} if self.processes else {"process_group": 0}
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.plannings.drain_process", str(ready), str(self.go)],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    **group,
                )
            )
        self.group = self.processes[0].pid

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_WAIT
        while not all(ready.exists() for ready in self.ready):
            failed = [p.communicate() for p in self.processes if p.poll() is not None]
            assert not failed, failed
            assert time.monotonic() < deadline, "the drains never started"
            time.sleep(0.05)

    def start(self) -> None:
        self.go.touch()

    def finish(self) -> list[str]:
        outputs = [process.communicate(timeout=START_WAIT) for process in self.processes]
        assert [process.returncode for process in self.processes] == [0] * len(self.processes), outputs
        return [out for out, _ in outputs]

    def kill(self) -> None:
        os.killpg(self.group, signal.SIGKILL)
        for process in self.processes:
            process.wait(timeout=30)


def _env(subprocess_env: dict, **extra: str) -> dict:
    return {
        **subprocess_env,
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": str(LIMIT),
        "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "4",
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "8",
        "PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS": "240000",
        **extra,
    }


def test_four_drains_on_two_machines_never_exceed_the_per_host_limit(feed_host, second_host, subprocess_env, tmp_path):
    # Interleaved, so every batch has feeds of both hosts; 50 ms each, so fetches overlap.
    urls = []
    for i in range(40):
        for name, server in (("a", feed_host), ("b", second_host)):
            urls.append(f"{server.url}/ok/{name}{i}.ics?events=3&delay=0.05")
    full_ids = _queue("f", urls)
    env = _env(subprocess_env)
    machines = [Machine(name, env, tmp_path, drains=2) for name in ("one", "two")]
    for machine in machines:
        machine.wait_ready()
    for machine in machines:
        machine.start()
    outputs = [out for machine in machines for out in machine.finish()]

    claimed = [int(out.split("claimed ", 1)[1].split(",", 1)[0]) for out in outputs]
    assert sum(claimed) == 80, outputs
    # The limit is reached (the drains really competed for it) and never passed, on either host.
    assert feed_host.max_in_flight_per_host == {"127.0.0.1": LIMIT}
    assert second_host.max_in_flight_per_host == {"127.0.0.2": LIMIT}
    requested = Counter({**feed_host.requests, **second_host.requests})
    assert len(requested) == 80 and set(requested.values()) == {1}  # each feed fetched exactly once
    assert set(PlanningBackup.objects.values_list("planning_id", flat=True)) == set(full_ids)
    assert not PlanningRefreshQueue.objects.exists()
    assert not HostSlot.objects.exists()  # every drain gave its slots back as it ended


def test_a_machine_killed_holding_slots_frees_them_within_the_lease(feed_host, subprocess_env, tmp_path):
    lease = timedelta(seconds=3)
    # Machine one's drains claim 3 rows each and hold both of the host's slots with 2 s fetches.
    slow = _queue("k", [f"{feed_host.url}/ok/k{i}.ics?events=3&delay=2" for i in range(6)])
    env = _env(
        subprocess_env,
        PLANNINGS_REFRESH_WORKER_BATCH_SIZE="3",
        PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS=str(int(lease.total_seconds() * 1000)),
        CURL_TIMEOUT="2500",  # the lease is at least the fetch timeout (a dead drain's requests end first)
    )
    one = Machine("one", env, tmp_path, drains=2)
    one.wait_ready()
    one.start()
    deadline = time.monotonic() + START_WAIT
    # Both slots held, and both fetches arrived at the server (a slot is won before its request is sent).
    while HostSlot.objects.filter(host="127.0.0.1").count() < LIMIT or (
        sum(n for path, n in feed_host.in_flight.items() if path.startswith("/ok/k")) < LIMIT
    ):
        assert time.monotonic() < deadline, "machine one never held the host's slots with its fetches in flight"
        time.sleep(0.05)
    one.kill()
    killed_at = timezone.now()
    held = HostSlot.objects.filter(host="127.0.0.1")
    assert held.count() == LIMIT
    assert all(any(f":{pid}:" in slot.holder for pid in one.pids()) for slot in held)
    one_until = held.aggregate(until=Max("leased_until"))["until"]
    assert one_until <= killed_at + lease  # the bound: one lease after the last renewal, at most
    locked_by_one = {
        row.planning_id
        for row in PlanningRefreshQueue.objects.filter(locked_at__isnull=False)
        if any(f":{pid}:" in row.lock_owner for pid in one.pids())
    }
    assert locked_by_one

    # Machine two starts on fresh rows of the same host: it must wait for the dead machine's leases.
    fresh = _queue("n", [f"{feed_host.url}/ok/n{i}.ics?events=3" for i in range(10)])
    two = Machine("two", env, tmp_path, drains=2)
    two.wait_ready()
    two.start()
    two.finish()
    by_two = RefreshAttempt.objects.exclude(planning__in=locked_by_one).filter(planning__in=fresh + slow)
    assert by_two.exists()
    assert min(by_two.values_list("started_at", flat=True)) > one_until  # no fetch while the dead leases held
    assert feed_host.max_in_flight_per_host == {"127.0.0.1": LIMIT}
    # None fetched twice while the dead machine's claim lease holds on its rows.
    assert set(Counter(feed_host.requests).values()) == {1}
    assert set(PlanningRefreshQueue.objects.values_list("planning", flat=True)) == locked_by_one

    # Its rows: not claimed while their claim lease holds, then all refreshed; none lost.
    Planning.objects.update(url=Replace("url", Value("&delay=2"), Value("")))
    claimed_at = PlanningRefreshQueue.objects.aggregate(first=Min("locked_at"), last=Max("locked_at"))
    with time_machine.travel(claimed_at["first"] + timedelta(minutes=4, seconds=59), tick=False):
        assert jobs.refresh_drain(owner="survivor").claimed == 0
    with time_machine.travel(claimed_at["last"] + timedelta(minutes=5, seconds=1), tick=False):
        result = jobs.refresh_drain(owner="survivor")
    assert (result.claimed, result.succeeded) == (len(locked_by_one), len(locked_by_one))
    assert set(PlanningBackup.objects.values_list("planning_id", flat=True)) == set(fresh) | set(slow)
    # Fetched twice only where machine one's fetch was cut by the kill: at most the host's limit of them.
    twice = [path for path, count in feed_host.requests.items() if count == 2]
    assert len(twice) <= LIMIT and max(feed_host.requests.values()) <= 2


@pytest.mark.django_db
def test_rows_waiting_past_the_budget_for_a_busy_host_go_back_unattempted(feed_host):
    full_ids = _queue("w", [f"{feed_host.url}/ok/w{i}.ics?events=3" for i in range(3)])
    lease = timedelta(minutes=5)
    taken = [  # another machine's drains hold every slot of the host
        slots.host_slot_take(host="127.0.0.1", holder="elsewhere", limit=LIMIT, now=timezone.now(), lease=lease)
        for _ in range(LIMIT)
    ]
    assert taken == [0, 1]
    assert slots.host_slot_take(host="127.0.0.1", holder="late", limit=LIMIT, now=timezone.now(), lease=lease) is None
    limits = replace(jobs.DrainLimits.from_settings(), per_host=LIMIT, budget=timedelta(seconds=2))

    result = jobs.refresh_drain(owner="patient", limits=limits)
    assert (result.claimed, dict(result.outcomes)) == (3, {"given_back": 3})
    assert not feed_host.requests
    rows = PlanningRefreshQueue.objects.filter(planning__in=full_ids)
    assert {(row.attempts, row.locked_at, row.lock_owner) for row in rows} == {(0, None, None)}  # waiting cost nothing

    slots.host_slots_give_back_all(holder="elsewhere")
    assert jobs.refresh_drain(owner="patient", limits=limits).succeeded == 3


@pytest.mark.django_db
def test_a_drain_keeps_a_host_slot_while_its_batch_still_has_items_for_that_host(feed_host, second_host):
    """Two hosts alternating in every batch, one fetch at a time: each host's slot is taken once a
    batch and reused for its next items, not given back and taken again around every fetch."""
    servers = (feed_host, second_host)
    full_ids = _queue("k", [f"{servers[i % 2].url}/ok/k{i}.ics?events=3" for i in range(16)])
    limits = replace(jobs.DrainLimits.from_settings(), batch_size=8, concurrency=1, per_host=1)

    with CaptureQueriesContext(connection) as queries:
        result = jobs.refresh_drain(owner="keeper", limits=limits)

    assert result.succeeded == 16
    assert set(PlanningBackup.objects.values_list("planning_id", flat=True)) == set(full_ids)
    takes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith(f"INSERT INTO {HOST_SLOTS}")]
    assert len(takes) <= 2 * 2  # at most 2 hosts x 2 batches (16 before: a give-back and a take around every fetch)
    peaks = [feed_host.max_in_flight_per_host["127.0.0.1"], second_host.max_in_flight_per_host["127.0.0.2"]]
    assert peaks == [1, 1]
    assert not HostSlot.objects.exists()
