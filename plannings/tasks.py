"""Celery tasks: thin wrappers that run one step of a job (``plannings.jobs``)."""

from __future__ import annotations

import os
from datetime import timedelta

from celery import shared_task
from celery.signals import beat_init
from django.conf import settings
from django.utils import timezone

from opsportal.workers.services import periodic_claim
from plannings import history, jobs, services

_OWNERS: dict[int, str] = {}


def _owner() -> str:
    # One lock owner per process: prefork children must not share their parent's id.
    pid = os.getpid()
    if pid not in _OWNERS:
        _OWNERS[pid] = jobs.worker_id()
    return _OWNERS[pid]


def _drain_time_limit() -> int:
    budget = settings.PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS / 1000
    return int(budget + 2 * settings.CURL_TIMEOUT / 1000 + 60)


SKIPPED = {"state": "skipped", "why": "already run this period (another beat)"}


def _period_claimed(name: str, period: float | None) -> bool:
    """Beat sends ``period`` (its interval): the task runs once per period however many beats send it.

    Two beats overlap during a deploy (Kamal starts the new container before stopping the old);
    the run is claimed in the database (``opsportal.workers``), not left to there being one beat.
    Without ``period`` (an operator's "run now", a test) the task just runs.
    """
    return period is None or periodic_claim(name=name, period=timedelta(seconds=period), now=timezone.now())


@shared_task(name="plannings.backfill", ignore_result=True, time_limit=300, soft_time_limit=240)
def backfill(period: float | None = None) -> dict:
    if not _period_claimed("plannings.backfill", period):
        return SKIPPED
    result = jobs.backfill_pass()
    return {"state": result.state, "missing": result.missing, "stale": result.stale}


@shared_task(
    name="plannings.refresh_poll",
    ignore_result=True,
    time_limit=_drain_time_limit(),
    soft_time_limit=_drain_time_limit() - 10,
)
def refresh_poll(wake: bool = False) -> dict:
    result = jobs.refresh_poll(owner=_owner(), wake=wake)
    drained = result.drained
    return {
        "state": result.state,
        "claimed": drained.claimed if drained else 0,
        "outcomes": dict(drained.outcomes) if drained else {},
        "swept": result.swept,
    }


def refresh_worker_wake(sender=None, **kwargs) -> None:
    """Receiver of ``refresh_queue_changed``: no publish retries, so a broker outage cannot stall the caller."""
    refresh_poll.apply_async(kwargs={"wake": True}, retry=False)


@shared_task(name="plannings.health_snapshot", ignore_result=True, time_limit=60, soft_time_limit=50)
def health_snapshot(period: float | None = None) -> dict:
    """Beat runs this every minute; each minute keeps one row however often it runs."""
    if not _period_claimed("plannings.health_snapshot", period):
        return SKIPPED
    now = timezone.now()
    recorded = history.health_snapshot_record(now=now)
    retention = timedelta(hours=settings.PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS)
    pruned = history.health_snapshots_prune(now=now, retention=retention)
    return {"recorded": recorded, "pruned": pruned}


@shared_task(name="plannings.attempts_prune", ignore_result=True, time_limit=300, soft_time_limit=240)
def attempts_prune(period: float | None = None) -> dict:
    """Beat runs this hourly: each run deletes a bounded number of rows, the next takes the rest."""
    if not _period_claimed("plannings.attempts_prune", period):
        return SKIPPED
    retention = timedelta(days=settings.PLANNINGS_ATTEMPTS_RETENTION_DAYS)
    return {"pruned": services.refresh_attempts_prune(now=timezone.now(), retention=retention)}


@beat_init.connect
def _jobs_start(sender=None, **kwargs) -> None:
    """Beat is the one scheduler: its start is the jobs' start. Upstream backfills at once."""
    jobs.jobs_starting()
    # With the schedule's period: a second beat starting while another runs (a deploy) backfills
    # only if no backfill ran this period.
    backfill.delay(period=settings.CELERY_BEAT_SCHEDULE["plannings-backfill"]["schedule"])
