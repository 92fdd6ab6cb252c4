"""Writes behind the operator's admin actions: refresh now, re-enable, release lock, retry now.

Each function is one transaction over a list of planning full ids (the admin's
selection) and returns how many plannings it changed; the caller reports the
rest as skipped. Conditions are re-checked inside the transaction, so a row that
changed since the operator looked (a worker finished it, a lock expired) is
skipped rather than overwritten. Ids are handled in chunks so a select-all over
the whole catalog stays within every database's limit on query parameters.

Given an ``actor``, each also records itself in the audit trail inside its own
transaction, so the change and its record commit (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import transaction

from opsportal.audit.services import Actor, audit_record
from plannings import services
from plannings.models import Planning, PlanningRefreshQueue, PlanningRefreshState

CHUNK_SIZE = 500
# The audit trail's action names.
AUDIT_REFRESH_NOW = "plannings.refresh_now"
AUDIT_REENABLE = "plannings.reenable"
AUDIT_RELEASE_LOCKS = "plannings.release_locks"
AUDIT_RETRY_NOW = "plannings.retry_now"


def _audit(actor: Actor | None, action: str, full_ids: list[str], changed: int) -> None:
    if actor is not None:
        audit_record(actor=actor, action=action, target_type="planning", targets=full_ids, changed=changed)


def _chunks(full_ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(full_ids), CHUNK_SIZE):
        yield full_ids[start : start + CHUNK_SIZE]


def _plannings_lock(full_ids: list[str]) -> list[str]:
    """The ids that still exist, locked against deletion until commit (in id order, so no deadlock).

    A catalog import may delete plannings meanwhile; inserting a queue row for a
    deleted planning would fail the foreign key and roll back the whole action.
    """
    existing: list[str] = []
    for chunk in _chunks(sorted(set(full_ids))):
        rows = Planning.objects.select_for_update(no_key=True).filter(full_id__in=chunk).order_by("full_id")
        existing += rows.values_list("full_id", flat=True)
    return existing


def _wake() -> None:
    # The enqueues wake the worker themselves; rows made claimable here would
    # otherwise wait for its next idle poll (up to 30 s).
    services.refresh_work_available()


def plannings_refresh(*, planning_full_ids: list[str], now: datetime, actor: Actor | None = None) -> int:
    """Refresh now: a user request per planning; returns how many were queued.

    This is exactly a user's "refresh now" (``services.refresh_request``): priority
    10, re-enables the planning, and throttled, so a planning requested less than
    30 s ago at user priority is skipped.
    """
    with transaction.atomic():
        queued = sum(
            services.refresh_request(planning_full_id=full_id, now=now)
            for full_id in _plannings_lock(planning_full_ids)
        )
        _audit(actor, AUDIT_REFRESH_NOW, planning_full_ids, queued)
    return queued


def plannings_reenable(*, planning_full_ids: list[str], now: datetime, actor: Actor | None = None) -> int:
    """Clear the disable of the disabled plannings and queue them at user priority; returns how many.

    Only ``disabled_until`` and ``consecutive_failures`` are cleared: the last
    failure kind and error stay as the record of why it was disabled until the
    next success clears them. The enqueue is the batch upsert (one statement per
    500, one worker wake-up) because a whole host may be re-enabled at once.
    """
    with transaction.atomic():
        reenabled: list[str] = []
        for chunk in _chunks(_plannings_lock(planning_full_ids)):
            disabled = PlanningRefreshState.objects.select_for_update().disabled(now=now).filter(planning_id__in=chunk)
            ids = list(disabled.values_list("planning_id", flat=True))
            PlanningRefreshState.objects.filter(planning_id__in=ids).update(
                disabled_until=None, consecutive_failures=0, updated_at=now
            )
            reenabled += ids
        services.refresh_enqueue_batch(planning_full_ids=reenabled, now=now, priority=services.PRIORITY_USER)
        _audit(actor, AUDIT_REENABLE, planning_full_ids, len(reenabled))
    return len(reenabled)


def plannings_release_locks(*, planning_full_ids: list[str], actor: Actor | None = None) -> int:
    """Unlock the queue rows of these plannings (live or expired locks); returns how many were locked.

    For the rows of a worker that is gone: they become claimable at once instead
    of after the lock TTL. The attempt the claim counted stays counted. A worker
    that is in fact still running finishes harmlessly: its writes are guarded by
    ``lock_owner``, so its result is written but the row stays queued and is
    fetched once more.
    """
    released = 0
    with transaction.atomic():
        for chunk in _chunks(planning_full_ids):
            released += (
                PlanningRefreshQueue.objects.with_lock()
                .filter(planning_id__in=chunk)
                .update(locked_at=None, lock_owner=None)
            )
        if released:
            _wake()
        _audit(actor, AUDIT_RELEASE_LOCKS, planning_full_ids, released)
    return released


def plannings_retry_now(*, planning_full_ids: list[str], now: datetime, actor: Actor | None = None) -> int:
    """Bring the next attempt of queued plannings waiting in backoff forward to now; returns how many.

    Rows already due are left as they are, and so are rows that used every
    attempt: the worker never claims those again (the sweep disables them), so
    only "refresh now" after the sweep brings them back.
    """
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    moved = 0
    with transaction.atomic():
        for chunk in _chunks(planning_full_ids):
            moved += (
                PlanningRefreshQueue.objects.in_backoff(now=now, max_attempts=max_attempts)
                .filter(planning_id__in=chunk)
                .update(next_attempt_at=now)
            )
        if moved:
            _wake()
        _audit(actor, AUDIT_RETRY_NOW, planning_full_ids, moved)
    return moved
