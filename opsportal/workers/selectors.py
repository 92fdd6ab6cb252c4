"""Reads: the workers as the Jobs page shows them, from their own reports (never a broker broadcast)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F

from opsportal.workers.models import PeriodicRun, WorkerProcess


@dataclass(frozen=True)
class WorkerShown:
    worker: WorkerProcess
    state: str  # running, stale (no report for 3 periods), stopped
    queues: list[str]


def workers_shown(*, now: datetime) -> list[WorkerShown]:
    stale_before = now - timedelta(seconds=WorkerProcess.REPORT_SECONDS * WorkerProcess.STALE_AFTER_REPORTS)
    shown = []
    for worker in WorkerProcess.objects.order_by(F("stopped_at").asc(nulls_first=True), "name"):
        if worker.stopped_at is not None:
            state = "stopped"
        elif worker.last_seen_at < stale_before:
            state = "stale"
        else:
            state = "running"
        shown.append(WorkerShown(worker, state, [q for q in worker.queues.split(",") if q]))
    return shown


def periodic_runs() -> list[PeriodicRun]:
    return list(PeriodicRun.objects.order_by("name"))
