"""Writes to the jobs' shared runtime state: job reports, the pause switch, the shared row.

Upstream kept all of this in its single process's memory. Here jobs run as
Celery tasks on any machine and health is read by the web process, so every
transition is a row in the database.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from opsportal.audit.services import Actor, audit_record
from plannings.models import JOB_BACKFILL, JOB_REFRESH_WORKER, JobRuntime, JobsSharedState

ACTION_PAUSE = "jobs.pause"
ACTION_RESUME = "jobs.resume"
JOBS_TARGETS = (JOB_BACKFILL, JOB_REFRESH_WORKER)

ERROR_MAX_LENGTH = 2000


def job_enabled(job_id: str) -> bool:
    """``RUN_JOBS`` and ``ALLOWED_JOBS`` (``*`` allows all) decide whether a job runs at all."""
    allowed = settings.ALLOWED_JOBS
    return settings.RUN_JOBS and ("*" in allowed or job_id in allowed)


def jobs_shared_state_update(**fields) -> None:
    """Set fields of the shared row, creating it on first use (one UPDATE in the common case)."""
    if JobsSharedState.objects.filter(pk=JobsSharedState.SINGLETON_ID).update(**fields):
        return
    try:
        with transaction.atomic():
            JobsSharedState.objects.create(pk=JobsSharedState.SINGLETON_ID, **fields)
    except IntegrityError:  # another process created it first
        JobsSharedState.objects.filter(pk=JobsSharedState.SINGLETON_ID).update(**fields)


def jobs_paused() -> bool:
    return JobsSharedState.objects.filter(pk=JobsSharedState.SINGLETON_ID, paused=True).exists()


def _switch(*, paused: bool, now: datetime, actor: Actor | None, by: str) -> bool:
    """Flip the switch and, for an operator, record it in the audit trail in the same transaction.

    ``changed`` says whether the switch moved (pausing paused jobs changes nothing, and says so).
    ``by`` alone (no ``actor``) is for tests standing in for another process: nothing is audited.
    Returns whether the switch moved.
    """
    by = actor.name if actor is not None else by
    with transaction.atomic():
        was = jobs_paused()
        if paused:
            jobs_shared_state_update(paused=True, paused_at=now, paused_by=by[:150])
        else:
            jobs_shared_state_update(paused=False, paused_at=None, paused_by=by[:150])
        if actor is not None:
            moved = was != paused
            audit_record(
                actor=actor,
                action=ACTION_PAUSE if paused else ACTION_RESUME,
                target_type="job",
                targets=JOBS_TARGETS,
                changed=int(moved),
                detail=("" if moved else f"already {'paused' if paused else 'running'}; ")
                + ("the jobs stop at their next loop" if paused else "the jobs run at their next loop"),
                now=now,
            )
    return was != paused


def jobs_pause(*, now: datetime, actor: Actor | None = None, by: str = "") -> bool:
    return _switch(paused=True, now=now, actor=actor, by=by)


def jobs_resume(*, now: datetime, actor: Actor | None = None, by: str = "") -> bool:
    return _switch(paused=False, now=now, actor=actor, by=by)


def job_report(
    job_id: str,
    state: str,
    *,
    now: datetime,
    loop: bool = False,
    work: bool = False,
    error: str | None = None,
    **extra,
) -> None:
    """Record a state transition; ``loop``/``work`` stamp the last loop / last useful work."""
    fields = {"state": state, "updated_at": now, **extra}
    if loop:
        fields["last_loop_at"] = now
    if work:
        fields["last_work_at"] = now
    if error is not None:
        fields["last_error"] = error[:ERROR_MAX_LENGTH]
        fields["last_error_at"] = now
    if JobRuntime.objects.filter(job_id=job_id).update(**fields):
        return
    try:
        with transaction.atomic():
            JobRuntime.objects.create(job_id=job_id, started_at=now, **fields)
    except IntegrityError:
        JobRuntime.objects.filter(job_id=job_id).update(**fields)
