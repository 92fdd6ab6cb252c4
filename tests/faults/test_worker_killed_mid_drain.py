"""Fault: one worker machine killed with SIGKILL mid-batch, during a drain of 5,000 plannings while the alerts evaluate.

The fleet as production runs it, on one machine: two "machines", each the Procfile's worker line
(prefork, ``--without-gossip --without-mingle --without-heartbeat``) in its own process group with
its own environment, two pool processes each (four drains in all); one ``celery beat`` ticking the
refresh every second and the alerts every 10 s; Redis as the broker; the test's PostgreSQL; the feed
server in its own process, counting fetches per path and the peak of concurrent requests per host.

Machine one's whole process group is SIGKILLed while its drains hold claimed rows and host slots.
Documented answers (docs/reliability.md, docs/refresh-engine.md): its host slots are free again at
most one slot lease after its last renewal, so the per-host peak never passes the limit; the rows it
claimed stay locked until their claim lease (LOCK_TTL, 5 minutes) ends, and no one fetches them
meanwhile; then the surviving machine claims them again, and only the rows whose fetch the kill cut
are fetched a second time. Waiting out the 5 minutes is simulated by ageing those locks in SQL.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from celery import Celery
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from plannings.backups import events_signature
from plannings.models import LOCK_TTL_SECONDS, HostSlot, Planning, PlanningBackup, PlanningRefreshQueue
from tests.faults.conftest import celery_beat, logs_tail, processes_stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres_only
THOUSANDS = 5000
EVENTS = 3
PACED = f"events={EVENTS}&delay=0.01"  # 10 ms a feed: short, yet fetches overlap on the host
LIMIT = 4  # per host, across the fleet; each drain may run 4 fetches, so 4 drains compete for it
SLOT_LEASE = timedelta(seconds=3)
POOL = 2  # pool processes per machine: 4 worker processes in 2 process groups


@pytest.fixture
def feed_process():
    """The feed server in its own process (the workers' fetches do not share the test's GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.servers.feeds", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, process_group=0,
    )  # fmt: skip
    url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    processes_stop(process)


def _procfile_worker(env: dict) -> list[str]:
    """The Procfile's worker line, ``${VAR:-default}`` expanded from ``env``, run with this Python."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("worker:"))
    line = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), line.removeprefix("worker:"))
    command = shlex.split(line)
    assert command[0] == "celery", command
    return [sys.executable, "-m", *command]


class Machine:
    """One worker machine: the Procfile's worker (a prefork master and its pool) in its own process group."""

    def __init__(self, name: str, env: dict, tmp_path: Path):
        self.log = tmp_path / f"{name}.log"
        env = {**env, "OPSPORTAL_VAR_DIR": str(tmp_path / name), "TMPDIR": str(tmp_path)}
        (tmp_path / name).mkdir()
        self.master = subprocess.Popen(
            _procfile_worker(env), cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            process_group=0,
        )  # fmt: skip

    def pids(self) -> set[int]:
        """The master and its pool processes (the pool's pids are in the drains' lock owners)."""
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children").read_text().split()
        return {self.master.pid, *map(int, children)}

    def owns(self, owner: str | None) -> bool:
        # A lock owner or slot holder is "hostname:pid:uuid[/…]" (plannings.jobs.worker_id).
        return bool(owner) and int(owner.split(":")[1]) in self.pids_at_kill

    def kill(self) -> None:
        self.pids_at_kill = self.pids()
        os.killpg(self.master.pid, signal.SIGKILL)
        self.master.wait(timeout=30)


@pytest.fixture
def fleet(redis_server, subprocess_env, feed_process, tmp_path, settings):
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = redis_server.url
    env = {
        **subprocess_env, "CELERY_BROKER_URL": redis_server.url, "CELERY_CONCURRENCY": str(POOL),
        "PLANNINGS_REFRESH_WORKER_MIN_POLL_MS": "1000", "PLANNINGS_REFRESH_WORKER_MAX_POLL_MS": "2000",
        "PLANNINGS_REFRESH_WORKER_BATCH_SIZE": "50", "PLANNINGS_REFRESH_WORKER_CONCURRENCY": "4",
        "PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY": str(LIMIT),
        # Drains of 5 s: pool processes come free often enough for the alerts' task to get one.
        "PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS": "5000",
        "CURL_TIMEOUT": "2500",  # the slot lease is at least the fetch timeout (a dead drain's requests end first)
        "PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS": str(int(SLOT_LEASE.total_seconds() * 1000)),
        "PLANNINGS_BACKFILL_INTERVAL_MS": "600000", "OPSPORTAL_ALERTS_EVALUATE_SECONDS": "10",
    }  # fmt: skip
    machines = [Machine(name, env, tmp_path) for name in ("one", "two")]
    beat = celery_beat(env, tmp_path / "beat.log", tmp_path / "beat-schedule")
    yield machines, beat, redis_server.url
    processes_stop(beat, *(machine.master for machine in machines))


def _feed_path(full_id: str) -> str:
    return f"/ok/{full_id.replace('.', '-')}.ics"


def test_a_worker_machine_killed_mid_drain_of_thousands_loses_nothing_and_fetches_nothing_twice(
    feed_process, fleet, tmp_path, record_property
):
    from opsportal.alerts.models import EvaluatorState, Rule

    machines, beat, broker = fleet
    one, two = machines
    Rule.objects.create(name="plannings health", kind=Rule.Kind.PLANNINGS_HEALTH)
    Rule.objects.create(name="queues", kind=Rule.Kind.QUEUE)
    httpx.get(f"{feed_process}/_reset", timeout=5)

    def logs() -> str:
        return logs_tail(tmp_path, "one.log", "two.log", "beat.log")

    started = timezone.now()
    plannings = Planning.objects.bulk_create(
        Planning(full_id=full_id, planning_id="mk", title=full_id, url=f"{feed_process}{_feed_path(full_id)}?{PACED}")
        for full_id in (f"mk.p{i}" for i in range(THOUSANDS))
    )  # fmt: skip
    PlanningRefreshQueue.objects.bulk_create(
        PlanningRefreshQueue(planning=p, next_attempt_at=started) for p in plannings
    )
    full_ids = {p.full_id for p in plannings}
    Celery(broker=broker).send_task("alerts.evaluate")  # a pass now, beside the drain (beat's first is 10 s away)
    clock = time.monotonic()

    def passed_alerts(since) -> bool:
        return EvaluatorState.objects.filter(last_pass_at__gt=since).exists()

    def one_mid_batch() -> bool:
        """Machine one's drains hold claimed rows and host slots (fetches in flight), a fifth is written."""
        pids = {str(pid) for pid in one.pids()}
        holding = any(h.split(":")[1] in pids for h in HostSlot.objects.values_list("holder", flat=True))
        return holding and PlanningBackup.objects.count() >= THOUSANDS // 5 and passed_alerts(started)

    wait_until(one_mid_batch, timeout=180, interval=0.05,
               message=lambda: f"machine one never fetched, or the alerts never passed\n{logs()}")  # fmt: skip
    assert PlanningBackup.objects.count() < THOUSANDS, "the drain was over before the kill: nothing was tested"
    assert passed_alerts(started), "the alerts did not pass during the drain"
    one.kill()
    killed_at = timezone.now()

    # Machine two goes on with every row but those machine one's claim lease holds.
    def only_dead_rows_left() -> bool:
        # Each claim counts an attempt: a row claimed again while a claim lease held it shows 2.
        again = PlanningRefreshQueue.objects.filter(attempts__gt=1).values_list("planning_id", "lock_owner")[:5]
        assert not again, f"claimed again while the lease held: {list(again)}"
        rows = PlanningRefreshQueue.objects.values_list("lock_owner", "locked_at")
        return all(one.owns(owner) and locked_at > killed_at - timedelta(seconds=LOCK_TTL_SECONDS)
                   for owner, locked_at in rows)  # fmt: skip

    wait_until(only_dead_rows_left, timeout=180, interval=0.2,
               message=lambda: f"machine two did not take up the work\n{logs()}")  # fmt: skip
    survivors_done = time.monotonic() - clock
    held = set(PlanningRefreshQueue.objects.values_list("planning_id", flat=True))
    assert held, "machine one held no rows when it died: nothing was tested"
    dead_slots = [until for holder, until in HostSlot.objects.values_list("holder", "leased_until") if one.owns(holder)]
    assert all(until <= killed_at + SLOT_LEASE for until in dead_slots)  # free one slot lease after the kill at most
    before = httpx.get(f"{feed_process}/_requests", timeout=5).json()
    # None fetched twice while its claim lease holds: not machine one's rows, nor anyone's.
    assert max(before.values()) == 1, {path: n for path, n in before.items() if n > 1}
    cut = {full_id for full_id in held if _feed_path(full_id) in before}  # fetched, never written: the kill cut them

    # The claim lease (LOCK_TTL, 5 minutes) runs out: simulated by ageing machine one's locks in SQL,
    # and the evaluator's lock (the task time limit) in case the kill cut an alerts pass.
    PlanningRefreshQueue.objects.update(locked_at=F("locked_at") - timedelta(seconds=LOCK_TTL_SECONDS + 1))
    time_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    EvaluatorState.objects.filter(locked_until__lt=killed_at + time_limit).update(
        locked_until=F("locked_until") - time_limit
    )
    wait_until(lambda: not PlanningRefreshQueue.objects.exists() and passed_alerts(killed_at), timeout=120,
               interval=0.2, message=lambda: f"dead rows or alerts not taken up again\n{logs()}")  # fmt: skip
    total = time.monotonic() - clock

    backups = PlanningBackup.objects.only("planning_id", "signature", "events")
    assert {b.planning_id for b in backups} == full_ids and len(backups) == THOUSANDS  # none lost
    assert all(len(b.events) == EVENTS and b.signature == events_signature(b.events) for b in backups)  # all whole
    fetches = {
        path: n for path, n in httpx.get(f"{feed_process}/_requests", timeout=5).json().items() if "/mk-" in path
    }
    assert set(fetches) == {_feed_path(full_id) for full_id in full_ids}
    twice = {path for path, n in fetches.items() if n > 1}
    # Fetched again after the lease: only the rows whose fetch the kill cut, once more.
    assert twice == {_feed_path(full_id) for full_id in cut} and max(fetches.values()) <= 2, (twice, cut)
    peaks = httpx.get(f"{feed_process}/_peaks", timeout=5).json()
    assert peaks == {"127.0.0.1": LIMIT}  # reached (the drains competed) and never passed, over the whole run
    assert two.master.poll() is None and beat.poll() is None, logs()
    figures = {"survivors_done_s": round(survivors_done, 1), "total_s": round(total, 1), "held": len(held),
               "refetched": len(twice), "peak": peaks["127.0.0.1"]}  # fmt: skip
    record_property("figures", figures)
    print(f"\nworker killed mid-drain: {figures}")
