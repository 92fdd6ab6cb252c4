"""The operator's actions on plannings: refresh now, re-enable, release lock, retry now.

One service per action, called by the admin's actions, a planning's page and the REST API
alike. Each takes the ``actor`` and decides itself whether that actor may act
(``plannings.operate_plannings``; a token needs the ``plannings:operate`` scope too): a refusal
is recorded in the audit trail and raised as ``OperatorActionRefused``, which the pages show and
the API answers with 403. An allowed action is one transaction over a list of planning full ids,
its audit row included, and returns an ``OperatorOutcome``: the ids it changed and, for the
others, why they were skipped.

Conditions are re-checked inside the transaction, so a row that changed since the operator
looked (a worker finished it, a lock expired) is skipped rather than overwritten. Ids are
handled in chunks so a select-all over the whole catalog stays within every database's limit
on query parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from opsportal.audit.services import audit_record, audit_refusal_record
from opsportal.lib.actors import Actor
from plannings import selectors, services
from plannings.models import Planning, PlanningRefreshQueue, PlanningRefreshState
from plannings.scopes import OPERATE_PERMISSION, SCOPE_OPERATE

CHUNK_SIZE = 500
# "Refresh now" is one throttled user request per planning: bounded so a select-all over the
# catalog (or a script's list) cannot turn into a 100,000-request web request.
REFRESH_NOW_LIMIT = 500

# The audit trail's action names.
AUDIT_REFRESH_NOW = "plannings.refresh_now"
AUDIT_REENABLE = "plannings.reenable"
AUDIT_RELEASE_LOCKS = "plannings.release_locks"
AUDIT_RETRY_NOW = "plannings.retry_now"

# Why a planning was left as it was: the reason's code (the API's) and its words (the pages').
NOT_FOUND = "not_found"
THROTTLED = "throttled"
NOT_DISABLED = "not_disabled"
NOT_LOCKED = "not_locked"
NOT_WAITING = "not_waiting"
SKIP_REASONS = {
    NOT_FOUND: "no such planning",
    THROTTLED: "already requested in the last 30 seconds",
    NOT_DISABLED: "not disabled",
    NOT_LOCKED: "not locked",
    NOT_WAITING: "not waiting in the queue (not queued, already due, or out of attempts)",
}


class PlanningMissing(Exception):
    """No planning has this full id."""

    code = "not_found"

    def __init__(self, full_id: str):
        super().__init__(f"no planning {full_id!r}")
        self.detail = f"no planning {full_id!r}"


class OperatorActionRefused(Exception):
    """The actor may not do this (``forbidden``), or asked for too much at once (``too_many``)."""

    def __init__(self, detail: str, *, code: str = "forbidden"):
        super().__init__(detail)
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class Skipped:
    planning_full_id: str
    reason: str  # one of SKIP_REASONS

    @property
    def why(self) -> str:
        return SKIP_REASONS[self.reason]


@dataclass(frozen=True)
class OperatorOutcome:
    """What one action did: the plannings it changed, and each one it skipped with the reason."""

    action: str
    changed: tuple[str, ...]
    skipped: tuple[Skipped, ...]

    @property
    def changed_count(self) -> int:
        return len(self.changed)


def _chunks(full_ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(full_ids), CHUNK_SIZE):
        yield full_ids[start : start + CHUNK_SIZE]


def _unique(full_ids: list[str]) -> list[str]:
    return list(dict.fromkeys(full_ids))


def operator_refusal(*, actor: Actor, action: str, planning_full_ids: list[str]) -> None:
    """Refuse (audited, then raised) an actor who may not operate plannings; return when it may."""
    if refusal := actor.refusal(permission=OPERATE_PERMISSION, scope=SCOPE_OPERATE):
        audit_refusal_record(
            actor=actor, action=action, target_type="planning", targets=planning_full_ids, detail=refusal
        )
        raise OperatorActionRefused(refusal)


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


def _existing(full_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(full_ids):
        found.update(Planning.objects.filter(full_id__in=chunk).values_list("full_id", flat=True))
    return found


def _outcome(action: str, full_ids: list[str], changed: list[str], existing: set[str], reason: str) -> OperatorOutcome:
    done = set(changed)
    skipped = tuple(
        Skipped(full_id, reason if full_id in existing else NOT_FOUND) for full_id in full_ids if full_id not in done
    )
    return OperatorOutcome(action=action, changed=tuple(f for f in full_ids if f in done), skipped=skipped)


def _audit(actor: Actor, action: str, full_ids: list[str], changed: int) -> None:
    audit_record(actor=actor, action=action, target_type="planning", targets=full_ids, changed=changed)


def _wake() -> None:
    # The enqueues wake the worker themselves; rows made claimable here would
    # otherwise wait for its next idle poll (up to 30 s).
    services.refresh_work_available()


def plannings_refresh(*, planning_full_ids: list[str], now: datetime, actor: Actor) -> OperatorOutcome:
    """Refresh now: a user request per planning, at most ``REFRESH_NOW_LIMIT`` at a time.

    This is exactly a user's "refresh now" (``services.refresh_request``): priority
    10, re-enables the planning, and throttled, so a planning requested less than
    30 s ago at user priority is skipped.
    """
    full_ids = _unique(planning_full_ids)
    operator_refusal(actor=actor, action=AUDIT_REFRESH_NOW, planning_full_ids=full_ids)
    if len(full_ids) > REFRESH_NOW_LIMIT:
        detail = f"over the limit of {REFRESH_NOW_LIMIT} plannings at a time"
        audit_refusal_record(
            actor=actor, action=AUDIT_REFRESH_NOW, target_type="planning", targets=full_ids, detail=detail
        )
        raise OperatorActionRefused(f"refresh now takes at most {REFRESH_NOW_LIMIT} plannings", code="too_many")
    with transaction.atomic():
        existing = _plannings_lock(full_ids)
        queued = [full_id for full_id in existing if services.refresh_request(planning_full_id=full_id, now=now)]
        _audit(actor, AUDIT_REFRESH_NOW, full_ids, len(queued))
    return _outcome(AUDIT_REFRESH_NOW, full_ids, queued, set(existing), THROTTLED)


def plannings_reenable(*, planning_full_ids: list[str], now: datetime, actor: Actor) -> OperatorOutcome:
    """Clear the disable of the disabled plannings and queue them at user priority.

    Only ``disabled_until`` and ``consecutive_failures`` are cleared: the last
    failure kind and error stay as the record of why it was disabled until the
    next success clears them. The enqueue is the batch upsert (one statement per
    500, one worker wake-up) because a whole host may be re-enabled at once.
    """
    full_ids = _unique(planning_full_ids)
    operator_refusal(actor=actor, action=AUDIT_REENABLE, planning_full_ids=full_ids)
    with transaction.atomic():
        existing = _plannings_lock(full_ids)
        reenabled: list[str] = []
        for chunk in _chunks(existing):
            disabled = PlanningRefreshState.objects.select_for_update().disabled(now=now).filter(planning_id__in=chunk)
            ids = list(disabled.values_list("planning_id", flat=True))
            PlanningRefreshState.objects.filter(planning_id__in=ids).update(
                disabled_until=None, consecutive_failures=0, updated_at=now
            )
            reenabled += ids
        services.refresh_enqueue_batch(planning_full_ids=reenabled, now=now, priority=services.PRIORITY_USER)
        _audit(actor, AUDIT_REENABLE, full_ids, len(reenabled))
    return _outcome(AUDIT_REENABLE, full_ids, reenabled, set(existing), NOT_DISABLED)


def plannings_release_locks(*, planning_full_ids: list[str], actor: Actor) -> OperatorOutcome:
    """Unlock the queue rows of these plannings (live or expired locks).

    For the rows of a worker that is gone: they become claimable at once instead
    of after the lock TTL. The attempt the claim counted stays counted. A worker
    that is in fact still running finishes harmlessly: its writes are guarded by
    ``lock_owner``, so its result is written but the row stays queued and is
    fetched once more.
    """
    full_ids = _unique(planning_full_ids)
    operator_refusal(actor=actor, action=AUDIT_RELEASE_LOCKS, planning_full_ids=full_ids)
    released: list[str] = []
    with transaction.atomic():
        for chunk in _chunks(full_ids):
            locked = PlanningRefreshQueue.objects.with_lock().select_for_update().filter(planning_id__in=chunk)
            ids = list(locked.values_list("planning_id", flat=True))
            PlanningRefreshQueue.objects.filter(planning_id__in=ids).update(locked_at=None, lock_owner=None)
            released += ids
        if released:
            _wake()
        _audit(actor, AUDIT_RELEASE_LOCKS, full_ids, len(released))
    return _outcome(AUDIT_RELEASE_LOCKS, full_ids, released, _existing(full_ids), NOT_LOCKED)


def plannings_retry_now(*, planning_full_ids: list[str], now: datetime, actor: Actor) -> OperatorOutcome:
    """Bring the next attempt of queued plannings waiting in backoff forward to now.

    Rows already due are left as they are, and so are rows that used every
    attempt: the worker never claims those again (the sweep disables them), so
    only "refresh now" after the sweep brings them back.
    """
    full_ids = _unique(planning_full_ids)
    operator_refusal(actor=actor, action=AUDIT_RETRY_NOW, planning_full_ids=full_ids)
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    moved: list[str] = []
    with transaction.atomic():
        for chunk in _chunks(full_ids):
            waiting = (
                PlanningRefreshQueue.objects.in_backoff(now=now, max_attempts=max_attempts)
                .select_for_update()
                .filter(planning_id__in=chunk)
            )
            ids = list(waiting.values_list("planning_id", flat=True))
            PlanningRefreshQueue.objects.filter(planning_id__in=ids).update(next_attempt_at=now)
            moved += ids
        if moved:
            _wake()
        _audit(actor, AUDIT_RETRY_NOW, full_ids, len(moved))
    return _outcome(AUDIT_RETRY_NOW, full_ids, moved, _existing(full_ids), NOT_WAITING)


# The actions by the names the API and the bulk form use.
REFRESH, REENABLE, RELEASE_LOCK, RETRY = "refresh", "re-enable", "release-lock", "retry"
ACTIONS = {
    REFRESH: AUDIT_REFRESH_NOW,
    REENABLE: AUDIT_REENABLE,
    RELEASE_LOCK: AUDIT_RELEASE_LOCKS,
    RETRY: AUDIT_RETRY_NOW,
}


def plannings_operate(*, action: str, planning_full_ids: list[str], now: datetime, actor: Actor) -> OperatorOutcome:
    """One of ``ACTIONS`` over a list of plannings."""
    if action == REFRESH:
        return plannings_refresh(planning_full_ids=planning_full_ids, now=now, actor=actor)
    if action == REENABLE:
        return plannings_reenable(planning_full_ids=planning_full_ids, now=now, actor=actor)
    if action == RELEASE_LOCK:
        return plannings_release_locks(planning_full_ids=planning_full_ids, actor=actor)
    if action == RETRY:
        return plannings_retry_now(planning_full_ids=planning_full_ids, now=now, actor=actor)
    raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


def planning_operate(*, action: str, planning_full_id: str, now: datetime, actor: Actor) -> OperatorOutcome:
    """One of ``ACTIONS`` on one planning: the actor is decided first (a refusal is recorded whether
    or not the planning exists), then a planning that does not exist is ``PlanningMissing``."""
    operator_refusal(actor=actor, action=ACTIONS[action], planning_full_ids=[planning_full_id])
    if not Planning.objects.filter(pk=planning_full_id).exists():
        raise PlanningMissing(planning_full_id)
    return plannings_operate(action=action, planning_full_ids=[planning_full_id], now=now, actor=actor)


def plannings_operate_matching(
    *, action: str, filters: dict, maximum: int, now: datetime, actor: Actor
) -> OperatorOutcome:
    """An action over the plannings a filter matches, refused whole when it matches more than ``maximum``.

    The caller states how many plannings it expects to act on: a filter broader than meant (a
    typo in a host) is refused, audited, rather than acting on the whole catalog.
    """
    audited = ACTIONS[action]
    matching = selectors.plannings_matching(filters=filters, now=now)
    full_ids = list(matching.values_list("full_id", flat=True)[: maximum + 1])
    if len(full_ids) > maximum:
        operator_refusal(actor=actor, action=audited, planning_full_ids=full_ids)
        detail = f"the filter matches more than the maximum of {maximum} plannings; nothing was done"
        audit_refusal_record(actor=actor, action=audited, target_type="planning", targets=full_ids, detail=detail)
        raise OperatorActionRefused(detail, code="too_many")
    return plannings_operate(action=action, planning_full_ids=full_ids, now=now, actor=actor)
