"""Writes: a worker's own report (start, every REPORT_SECONDS, each task, stop) and a beat task's run claim."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F, Q

from opsportal.workers.models import PeriodicRun, WorkerProcess

# A single beat's runs reach the workers up to a queueing delay early or late: a run counts as a
# repeat only within 90 % of the period, so one beat is never skipped by its own jitter, and two
# beats at any offset give one run per period (the other's lands within 90 % and is skipped).
REPEAT_WITHIN = 0.9
WORKERS_KEPT = timedelta(days=7)


def periodic_claim(*, name: str, period: timedelta, now: datetime) -> bool:
    """Claim this period's run of ``name`` with a guarded update: True for the one caller that should run."""
    PeriodicRun.objects.bulk_create([PeriodicRun(name=name)], ignore_conflicts=True)
    won = (
        PeriodicRun.objects.filter(name=name)
        .filter(Q(last_run_at__isnull=True) | Q(last_run_at__lte=now - period * REPEAT_WITHIN))
        .update(previous_run_at=F("last_run_at"), last_run_at=now, runs=F("runs") + 1)
    )
    if not won:
        PeriodicRun.objects.filter(name=name).update(skipped=F("skipped") + 1)
    return won == 1


def worker_report(
    *, name: str, pid: int, queues: list[str], pool: str, concurrency: int, now: datetime, starting: bool = False
) -> None:
    """The worker is alive (``starting``: it just started, which also clears a previous stop)."""
    fields = {"pid": pid, "queues": ",".join(sorted(queues))[:1000], "pool": pool[:50], "concurrency": concurrency}
    fields["last_seen_at"] = now
    if starting:
        fields.update(started_at=now, stopped_at=None, last_task="", last_task_at=None)
    if not WorkerProcess.objects.filter(name=name).update(**fields):
        WorkerProcess.objects.bulk_create(
            [WorkerProcess(name=name, **{"started_at": now, **fields})], ignore_conflicts=True
        )
    # Rows of workers gone for a week (each container has its own name) are dropped here, by any worker.
    WorkerProcess.objects.filter(last_seen_at__lt=now - WORKERS_KEPT).delete()


def worker_task_seen(*, name: str, task: str, now: datetime) -> None:
    WorkerProcess.objects.filter(name=name).update(last_task=task[:200], last_task_at=now, last_seen_at=now)


def worker_stopped(*, name: str, now: datetime) -> None:
    WorkerProcess.objects.filter(name=name).update(stopped_at=now, last_seen_at=now)
