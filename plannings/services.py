"""Writes to the refresh queue and refresh state (plannings spec §3-4).

Every function takes ``now`` so tests move time instead of sleeping. Queue rows
are only ever touched by their lock owner once claimed, so a worker whose lock
expired (and whose rows another worker took over) cannot undo the other's work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from plannings import policy
from plannings.backups import BackupWrite, PreparedBackup, backups_write_many
from plannings.models import (
    SQL_READY,
    Planning,
    PlanningRefreshQueue,
    PlanningRefreshState,
    RefreshAttempt,
    queue_sql_params,
)
from plannings.signals import refresh_queue_changed

logger = logging.getLogger(__name__)

PRIORITY_BACKFILL = 1
PRIORITY_USER = 10
PRIORITY_CAP = 100
USER_REQUEST_THROTTLE = timedelta(seconds=30)
QUEUE = PlanningRefreshQueue._meta.db_table
STATE = PlanningRefreshState._meta.db_table


def _dt(value: datetime):
    # SQLite keeps datetimes as text: raw SQL must pass them in Django's stored form.
    return connection.ops.adapt_datetimefield_value(value)


def _higher(left: str, right: str) -> str:
    return f"CASE WHEN {left} > {right} THEN {left} ELSE {right} END"


def _lower(left: str, right: str) -> str:
    return f"CASE WHEN {left} < {right} THEN {left} ELSE {right} END"


# The conflict rules of a batch enqueue: a row parked by a permanent failure keeps
# its schedule; any other row gets the higher priority (capped) and the earlier time.
_PARKED = f"({QUEUE}.last_error LIKE 'http_4%%' OR {QUEUE}.last_error = '{policy.MAX_ATTEMPTS}')"
_BUMPED_PRIORITY = f"CASE WHEN {_higher(f'{QUEUE}.priority', 'excluded.priority')} > {PRIORITY_CAP} THEN {PRIORITY_CAP} ELSE {_higher(f'{QUEUE}.priority', 'excluded.priority')} END"  # noqa: E501
_BATCH_UPSERT = f"""
INSERT INTO {QUEUE} (planning_full_id, priority, attempts, requested_at, next_attempt_at)
VALUES {{values}}
ON CONFLICT (planning_full_id) DO UPDATE SET
    priority = CASE WHEN {_PARKED} THEN {QUEUE}.priority ELSE {_BUMPED_PRIORITY} END,
    requested_at = CASE WHEN {_PARKED} THEN {QUEUE}.requested_at ELSE excluded.requested_at END,
    next_attempt_at = CASE WHEN {_PARKED} THEN {QUEUE}.next_attempt_at
                      ELSE {_lower(f"{QUEUE}.next_attempt_at", "excluded.next_attempt_at")} END
"""

_USER_UPSERT = f"""
INSERT INTO {QUEUE} (planning_full_id, priority, attempts, requested_at, next_attempt_at)
VALUES (%s, %s, 0, %s, %s)
ON CONFLICT (planning_full_id) DO UPDATE SET
    priority = {_BUMPED_PRIORITY},
    requested_at = excluded.requested_at,
    last_error = NULL,
    next_attempt_at = {_lower(f"{QUEUE}.next_attempt_at", "excluded.next_attempt_at")}
WHERE {QUEUE}.requested_at < %s OR {QUEUE}.priority < excluded.priority
RETURNING planning_full_id
"""


def refresh_work_available() -> None:
    """After commit, announce that the refresh queue holds work now. Best effort: the worker polls anyway.

    Services only announce; the one receiver, ``plannings.tasks.refresh_worker_wake``, wakes the worker
    (it sends the Celery task). ``robust`` keeps a broker outage from failing the enqueue (it is logged).
    """
    transaction.on_commit(lambda: refresh_queue_changed.send(sender=None), robust=True)


def refresh_enqueue_batch(*, planning_full_ids: list[str], now: datetime, priority: int = PRIORITY_BACKFILL) -> int:
    """Queue plannings for a refresh (the backfill's enqueue); returns how many were sent."""
    if not planning_full_ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(planning_full_ids), 500):
            chunk = planning_full_ids[start : start + 500]
            values = ", ".join(["(%s, %s, 0, %s, %s)"] * len(chunk))
            params = []
            for full_id in chunk:
                params += [full_id, priority, _dt(now), _dt(now)]
            cursor.execute(_BATCH_UPSERT.format(values=values), params)
        refresh_work_available()
    return len(planning_full_ids)


def refresh_request(*, planning_full_id: str, now: datetime) -> bool:
    """A user's "refresh now": re-enable the planning and queue it first (throttled to one per 30 s).

    Returns False when throttled (requested less than 30 s ago at an equal or higher priority).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _USER_UPSERT,
            [planning_full_id, PRIORITY_USER, _dt(now), _dt(now), _dt(now - USER_REQUEST_THROTTLE)],
        )
        if cursor.fetchone() is None:
            return False
        PlanningRefreshState.objects.update_or_create(
            planning_id=planning_full_id,
            defaults={
                "disabled_until": None,
                "consecutive_failures": 0,
                "last_failure_kind": None,
                "last_error": None,
                "updated_at": now,
            },
        )
        refresh_work_available()
    return True


@dataclass(frozen=True)
class ClaimedItem:
    planning_full_id: str
    attempt: int
    url: str | None


_CLAIM_POSTGRES = f"""
WITH picked AS (
    SELECT planning_full_id FROM {QUEUE}
    WHERE {SQL_READY}
    ORDER BY priority DESC, requested_at ASC
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {QUEUE} AS q SET locked_at = %(now)s, lock_owner = %(owner)s, attempts = q.attempts + 1
FROM picked WHERE q.planning_full_id = picked.planning_full_id
RETURNING q.planning_full_id, q.attempts, q.priority, q.requested_at
"""

# SQLite has one writer at a time, so one UPDATE over a sub-select is already exclusive.
_CLAIM_SQLITE = f"""
UPDATE {QUEUE} SET locked_at = %(now)s, lock_owner = %(owner)s, attempts = attempts + 1
WHERE planning_full_id IN (
    SELECT planning_full_id FROM {QUEUE}
    WHERE {SQL_READY}
    ORDER BY priority DESC, requested_at ASC
    LIMIT %(limit)s
)
RETURNING planning_full_id, attempts, priority, requested_at
"""


def refresh_queue_claim(*, owner: str, limit: int, now: datetime, max_attempts: int) -> list[ClaimedItem]:
    """Lock up to ``limit`` ready rows for ``owner`` in one statement, highest priority first.

    Rows locked by another worker are skipped, not waited for; a lock older than
    5 minutes is dead and its row is claimed again. Claiming counts the attempt.
    """
    sql = _CLAIM_POSTGRES if connection.vendor == "postgresql" else _CLAIM_SQLITE
    params = {**queue_sql_params(now=now, max_attempts=max_attempts), "limit": limit, "owner": owner}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    rows.sort(key=lambda row: (-row[2], str(row[3])))
    urls = dict(Planning.objects.filter(full_id__in=[row[0] for row in rows]).values_list("full_id", "url"))
    return [ClaimedItem(planning_full_id=row[0], attempt=row[1], url=urls.get(row[0])) for row in rows]


def refresh_items_give_back(*, items: list[ClaimedItem], owner: str) -> int:
    """Unlock rows this worker claimed but never fetched (their host stayed busy past the drain's
    budget): the claim's attempt is taken back, so waiting costs a planning none of its attempts."""
    if not items:
        return 0
    return PlanningRefreshQueue.objects.filter(
        planning_id__in=[item.planning_full_id for item in items], lock_owner=owner
    ).update(locked_at=None, lock_owner=None, attempts=F("attempts") - 1)


def _owned(planning_full_id: str, owner: str):
    return PlanningRefreshQueue.objects.filter(planning_id=planning_full_id, lock_owner=owner)


def _state_locked(planning_full_id: str, now: datetime) -> PlanningRefreshState:
    state, _ = PlanningRefreshState.objects.select_for_update().get_or_create(
        planning_id=planning_full_id, defaults={"updated_at": now}
    )
    return state


def refresh_item_forget(*, item: ClaimedItem, owner: str) -> None:
    """The planning is gone or has no URL: nothing to refresh, drop the row."""
    _owned(item.planning_full_id, owner).delete()


_STATE_SUCCESS = f"""
INSERT INTO {STATE} (planning_full_id, disabled_until, consecutive_failures, last_failure_kind, last_error,
                     last_attempt_at, last_success_at, updated_at)
VALUES {{values}}
ON CONFLICT (planning_full_id) DO UPDATE SET
    disabled_until = NULL, consecutive_failures = 0, last_failure_kind = NULL, last_error = NULL,
    last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at,
    updated_at = excluded.updated_at
"""


def refresh_attempts_record(*, attempts: list[RefreshAttempt]) -> None:
    """Add the attempts to the plannings' histories: one INSERT for the group (no per-item round trip)."""
    if attempts:
        RefreshAttempt.objects.bulk_create(attempts, batch_size=500)


def refresh_items_succeeded(
    *,
    successes: list[tuple[ClaimedItem, PreparedBackup]],
    owner: str,
    now: datetime,
    attempts: list[RefreshAttempt] = (),
) -> list[BackupWrite]:
    """Write the backups, drop the queue rows, reset the states, add the attempts: one transaction.

    Successes are written in groups so the database cost of a refresh does not
    dominate the fetch; a crash before commit leaves the rows locked, to be
    claimed again after the lock TTL. ``attempts`` (this group's, and the failures
    finished since the last group) ride along: a success whose backup did not
    change is recorded as ``not_modified``.
    """
    if not successes:
        refresh_attempts_record(attempts=list(attempts))
        return []
    full_ids = [item.planning_full_id for item, _ in successes]
    with transaction.atomic():
        written = backups_write_many(writes=[(item.planning_full_id, backup) for item, backup in successes], now=now)
        PlanningRefreshQueue.objects.filter(planning_id__in=full_ids, lock_owner=owner).delete()
        values = ", ".join(["(%s, NULL, 0, NULL, NULL, %s, %s, %s)"] * len(full_ids))
        params = []
        for full_id in full_ids:
            params += [full_id, _dt(now), _dt(now), _dt(now)]
        with connection.cursor() as cursor:
            cursor.execute(_STATE_SUCCESS.format(values=values), params)
        unchanged = {write.planning_full_id for write in written if not write.changed}
        for attempt in attempts:
            if attempt.outcome == RefreshAttempt.SUCCESS and attempt.planning_id in unchanged:
                attempt.outcome = RefreshAttempt.NOT_MODIFIED
        refresh_attempts_record(attempts=list(attempts))
    return written


@dataclass(frozen=True)
class AttemptFailure:
    """How one refresh attempt failed, as the outcome table reads it (plannings spec §4)."""

    kind: str  # a failure kind of ``policy`` (http_4xx, http_5xx, timeout, network_error...)
    last_error: str  # the queue and state text: ``http_404``, ``timeout``, an unexpected error's message
    status: int | None = None  # the HTTP status, when the feed answered one
    retry_after: timedelta | None = None  # the feed's Retry-After, when it sent one
    # Our own exception, not the feed's answer: the unexpected error's backoff, and ``max_attempts`` as the
    # disabling kind once out of attempts (never a 4xx's disable).
    unexpected: bool = False


class FailedOutcome(StrEnum):
    """What ``refresh_item_failed`` did with the planning's queue row."""

    DISABLED = "disabled"  # the planning is disabled (a 4xx, or out of attempts) and its row removed
    RETRY = "retry"  # the row is released to be tried again after a backoff
    FORGOTTEN = "forgotten"  # the planning was deleted meanwhile (catalog import): its row is removed


def refresh_item_failed(
    *,
    item: ClaimedItem,
    owner: str,
    failure: AttemptFailure,
    now: datetime,
    jitter: bool = True,
    attempt: RefreshAttempt | None = None,
) -> FailedOutcome:
    """Apply the outcome table to a failed attempt, and say what became of the planning's row.

    ``attempt`` (the history row, when recorded) is written in the same transaction as the state, so the
    planning's page never shows a "last attempt" or a failure count that its attempts table lacks.
    """
    kind, last_error, status, unexpected = failure.kind, failure.last_error, failure.status, failure.unexpected
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    with transaction.atomic():
        try:
            state = _state_locked(item.planning_full_id, now)
        except IntegrityError:
            # The planning was deleted (catalog import) while its feed was being fetched, and it had no
            # state row: get_or_create's insert broke the foreign key (in its own savepoint).
            _owned(item.planning_full_id, owner).delete()
            return FailedOutcome.FORGOTTEN
        state.last_attempt_at = now
        state.updated_at = now
        if kind == policy.HTTP_4XX and not unexpected:
            state.disabled_until = now + policy.disable_for(kind, status)
            state.consecutive_failures += 1
            state.last_failure_kind = kind
            state.last_error = last_error
            outcome = FailedOutcome.DISABLED
        elif item.attempt >= max_attempts:
            state.disabled_until = now + (
                policy.disable_for(policy.MAX_ATTEMPTS) if unexpected else policy.disable_for(kind, status)
            )
            state.consecutive_failures = max(item.attempt, state.consecutive_failures + 1)
            state.last_failure_kind = policy.MAX_ATTEMPTS if unexpected else kind
            state.last_error = policy.MAX_ATTEMPTS
            outcome = FailedOutcome.DISABLED
        else:
            base = policy.UNEXPECTED_BACKOFF_BASE if unexpected else policy.backoff_base(kind)
            delay = policy.backoff(attempt=item.attempt, base=base, retry_after=failure.retry_after, jitter=jitter)
            _owned(item.planning_full_id, owner).update(
                locked_at=None, lock_owner=None, last_error=last_error, next_attempt_at=now + delay
            )
            state.consecutive_failures += 1
            state.last_failure_kind = kind
            state.last_error = last_error
            outcome = FailedOutcome.RETRY
        if outcome is FailedOutcome.DISABLED:
            _owned(item.planning_full_id, owner).delete()
        try:
            with transaction.atomic():
                state.save()
        except IntegrityError:
            # The planning was deleted (catalog import) while its feed was being fetched.
            _owned(item.planning_full_id, owner).delete()
            return FailedOutcome.FORGOTTEN
        if attempt is not None:
            attempt.disabled = outcome is FailedOutcome.DISABLED
            attempt.save(force_insert=True)
    logger.info("refresh %s failed: %s (attempt %d, %s)", item.planning_full_id, kind, item.attempt, outcome.value)
    return outcome


def refresh_dead_rows_sweep(*, now: datetime, limit: int, max_attempts: int) -> int:
    """Disable (6 h, ``max_attempts``) rows that used every attempt but were never finished."""
    with transaction.atomic():
        dead = list(
            PlanningRefreshQueue.objects.select_for_update(skip_locked=True)
            .sweepable(now=now, max_attempts=max_attempts)
            .values_list("planning_id", "attempts")[:limit]
        )
        for planning_full_id, attempts in dead:
            state = _state_locked(planning_full_id, now)
            state.disabled_until = now + policy.disable_for(policy.MAX_ATTEMPTS)
            state.consecutive_failures = max(attempts, state.consecutive_failures + 1)
            state.last_failure_kind = policy.MAX_ATTEMPTS
            state.last_error = policy.MAX_ATTEMPTS
            state.last_attempt_at = state.last_attempt_at or now
            state.updated_at = now
            state.save()
        PlanningRefreshQueue.objects.filter(planning_id__in=[pk for pk, _ in dead]).delete()
    return len(dead)


ATTEMPTS_KEPT_PER_PLANNING = 50
ATTEMPTS_PRUNE_BATCH = 5_000
ATTEMPTS_PRUNE_MAX_BATCHES = 20


def _delete_batches(select, *, batch_size: int, max_batches: int) -> int:
    """Delete the ids ``select(batch_size)`` returns, a batch per transaction, until none or the bound."""
    deleted = 0
    for _ in range(max_batches):
        with transaction.atomic():
            ids = list(select(batch_size))
            if ids:
                RefreshAttempt.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            break
    return deleted


def refresh_attempts_prune(
    *,
    now: datetime,
    retention: timedelta,
    keep: int = ATTEMPTS_KEPT_PER_PLANNING,
    batch_size: int = ATTEMPTS_PRUNE_BATCH,
    max_batches: int = ATTEMPTS_PRUNE_MAX_BATCHES,
) -> int:
    """Delete attempts started more than ``retention`` ago, then each planning's beyond its newest ``keep``.

    Bounded batches, so one run stays within its task's time limit and never holds
    long locks; what is left is taken by the next run. An attempt exactly
    ``retention`` old is kept. Returns how many rows were deleted.
    """
    cutoff = now - retention
    old = RefreshAttempt.objects.filter(started_at__lt=cutoff).order_by().values_list("pk", flat=True)
    deleted = _delete_batches(lambda size: old[:size], batch_size=batch_size, max_batches=max_batches)
    # The planning's rank among its own attempts, newest first: the index
    # (planning, -started_at, -id) feeds the window in order, so no sort of the table.
    ranked = (
        RefreshAttempt.objects.annotate(
            rank=Window(RowNumber(), partition_by=[F("planning_id")], order_by=[F("started_at").desc(), F("id").desc()])
        )
        .filter(rank__gt=keep)
        .values_list("pk", flat=True)
    )
    deleted += _delete_batches(lambda size: ranked[:size], batch_size=batch_size, max_batches=max_batches)
    return deleted
