"""Writes to the jobs' shared runtime state: job reports, the pause switch, the shared row.

Upstream kept all of this in its single process's memory. Here jobs run as
Celery tasks on any machine and health is read by the web process, so every
transition is a row in the database.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from plannings.models import JobRuntime, JobsSharedState

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


def jobs_pause(*, by: str, now: datetime) -> None:
    jobs_shared_state_update(paused=True, paused_at=now, paused_by=by[:150])


def jobs_resume(*, by: str, now: datetime) -> None:
    jobs_shared_state_update(paused=False, paused_at=None, paused_by=by[:150])


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
