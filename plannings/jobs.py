"""The two background jobs as plain functions: one backfill pass, one refresh poll, one drain.

Celery tasks (``tasks.py``) and management commands call these; tests call them
directly with time moved. Each returns what it did.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from opsportal.lib import accounting
from plannings import feeds, services, slots
from plannings.backups import PreparedBackup, backup_prepare
from plannings.feeds import FeedFailure
from plannings.models import (
    JOB_BACKFILL,
    JOB_REFRESH_WORKER,
    JobRuntime,
    Planning,
    RefreshAttempt,
    q_backup_missing,
    q_backup_stale,
)
from plannings.quiet_hours import in_quiet_hours
from plannings.runtime import job_enabled, job_report, jobs_paused

logger = logging.getLogger(__name__)
State = JobRuntime.State


def jobs_starting() -> list[str]:
    """Report every enabled job as ``starting`` (when the scheduler starts); returns their ids."""
    now = timezone.now()
    started = [job_id for job_id in (JOB_BACKFILL, JOB_REFRESH_WORKER) if job_enabled(job_id)]
    for job_id in started:
        job_report(job_id, State.STARTING, now=now)
    return started


def worker_id() -> str:
    """A lock owner unique to this process on this machine."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- Backfill ------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillResult:
    state: str
    missing: int = 0
    stale: int = 0


def backfill_select(*, now: datetime) -> tuple[list[str], list[str]]:
    """Plannings to enqueue: without a backup, and with a stale one (oldest first); none disabled.

    Plannings already queued are left out (ours), so each pass's limits make
    progress through the catalog instead of re-picking rows the worker holds.
    """
    missing = list(
        Planning.objects.backfill_eligible(now=now)
        .filter(q_backup_missing())
        .order_by("full_id")
        .values_list("full_id", flat=True)[: settings.PLANNINGS_BACKFILL_MISSING_LIMIT]
    )
    stale = list(
        Planning.objects.backfill_eligible(now=now)
        .filter(q_backup_stale(now))
        .order_by("backup__updated_at")
        .values_list("full_id", flat=True)[: settings.PLANNINGS_BACKFILL_STALE_LIMIT]
    )
    return missing, stale


def backfill_pass(*, now: datetime | None = None) -> BackfillResult:
    now = now or timezone.now()
    if not job_enabled(JOB_BACKFILL):
        return BackfillResult(state="disabled")
    if jobs_paused():
        job_report(JOB_BACKFILL, State.PAUSED, now=now, loop=True)
        return BackfillResult(state=State.PAUSED)
    if in_quiet_hours(settings.JOBS_QUIET_HOURS, settings.JOBS_QUIET_HOURS_TIMEZONE, now):
        job_report(JOB_BACKFILL, State.QUIET_HOURS, now=now, loop=True)
        return BackfillResult(state=State.QUIET_HOURS)
    job_report(JOB_BACKFILL, State.WORKING, now=now, loop=True)
    try:
        missing, stale = backfill_select(now=now)
        services.refresh_enqueue_batch(planning_full_ids=missing + stale, now=now)
    except Exception as exc:  # recorded for the health endpoint, then raised for Celery to log
        job_report(JOB_BACKFILL, State.IDLE, now=timezone.now(), error=f"{type(exc).__name__}: {exc}")
        raise
    job_report(JOB_BACKFILL, State.IDLE, now=timezone.now(), work=bool(missing or stale))
    logger.info("backfill enqueued %d missing and %d stale plannings", len(missing), len(stale))
    return BackfillResult(state=State.IDLE, missing=len(missing), stale=len(stale))


# --- Refresh worker -------------------------------------------------------------------


@dataclass(frozen=True)
class DrainLimits:
    batch_size: int
    concurrency: int
    per_host: int
    budget: timedelta
    max_attempts: int
    # The per-host limit is shared by every drain through leased slots (``plannings.slots``);
    # False counts it in this drain only (the throughput bench's "unshared" comparison).
    shared_per_host: bool = True
    slot_lease: timedelta = timedelta(seconds=30)

    @classmethod
    def from_settings(cls) -> DrainLimits:
        return cls(
            batch_size=max(1, settings.PLANNINGS_REFRESH_WORKER_BATCH_SIZE),
            concurrency=max(1, settings.PLANNINGS_REFRESH_WORKER_CONCURRENCY),
            per_host=max(1, settings.PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY),
            budget=timedelta(milliseconds=settings.PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS),
            max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS,
            slot_lease=timedelta(milliseconds=settings.PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS),
        )


@dataclass
class DrainResult:
    claimed: int = 0
    succeeded: int = 0
    outcomes: Counter = field(default_factory=Counter)

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class Fetched:
    """What a pool thread brings back: the backup or why not, and what the attempt measured."""

    started_at: datetime
    duration_ms: int = 0
    backup: PreparedBackup | None = None
    failure: FeedFailure | None = None
    unexpected: Exception | None = None
    http_status: int | None = None
    size: int | None = None
    body_head: str = ""


# The status of the last response each pool thread received (an httpx event hook sets it):
# the feed client returns only the body, and a redirect's final status is the one that counts.
def _printable(text: str, limit: int) -> str:
    """``text`` cut at ``limit`` with no NUL (PostgreSQL refuses it) nor control characters.

    A feed's text reaches the attempt history both as a bad body's start and inside a parse
    error's message (icalendar quotes the value it refused): either may hold anything.
    """
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text[:limit])


def _safe_head(body: bytes) -> str:
    """The first characters of a bad body as plain text."""
    limit = RefreshAttempt.BODY_HEAD_CHARS
    return _printable(body[: limit * 4].decode("utf-8", errors="replace"), limit)


def _fetch_backup(client, item: services.ClaimedItem, config: feeds.FeedSettings, now: datetime) -> Fetched:
    """Runs on a pool thread: download, parse and prepare the backup; no database access."""
    fetched = Fetched(started_at=timezone.now())
    started = time.monotonic()
    body = None
    try:
        today = now.astimezone(config.zone).date()
        response = feeds.feed_get(client, feeds.feed_url(item.url, today=today), config=config)
        fetched.http_status, body = response.status, response.body
        fetched.size = len(body)
        fetched.backup = backup_prepare(feeds.feed_parse(body, zone=config.zone))
    except FeedFailure as failure:
        fetched.failure = failure
        if body is not None:  # the body came but is not a calendar: keep its start for the operator
            fetched.body_head = _safe_head(body)
    except Exception as exc:  # handled on the main thread, which logs it with its traceback
        fetched.unexpected = exc
    fetched.duration_ms = int((time.monotonic() - started) * 1000)
    if fetched.failure is not None and fetched.failure.status is not None:
        fetched.http_status = fetched.failure.status
    return fetched


def _host(url: str | None) -> str:
    return (urlsplit(url).hostname or "") if url else ""


SUCCESS_FLUSH_SIZE = 50


ACCOUNTING_QUEUE = "plannings_refresh"


def _flush(successes: list, attempts: list | None, owner: str, result: DrainResult) -> None:
    """Write the successes collected so far, with every attempt finished since the last flush."""
    pending = attempts if attempts is not None else []
    if not successes:
        if pending:
            services.refresh_attempts_record(attempts=list(pending))
            pending.clear()
        return
    services.refresh_items_succeeded(successes=successes, owner=owner, now=timezone.now(), attempts=pending)
    pending.clear()
    accounting.outcomes_record(queue=ACCOUNTING_QUEUE, succeeded=len(successes))
    result.succeeded += len(successes)
    result.outcomes["success"] += len(successes)
    successes.clear()


def _attempt(item: services.ClaimedItem, fetched: Fetched, owner: str, outcome: str, **fields) -> RefreshAttempt:
    return RefreshAttempt(
        planning_id=item.planning_full_id,
        started_at=fetched.started_at,
        finished_at=timezone.now(),
        outcome=outcome,
        http_status=fetched.http_status,
        duration_ms=fetched.duration_ms,
        bytes=fetched.size,
        body_head=fetched.body_head,
        worker=owner[:100],
        **fields,
    )


def _finish(
    item: services.ClaimedItem,
    future: Future,
    owner: str,
    result: DrainResult,
    successes: list,
    attempts: list | None = None,
) -> None:
    """Apply one item's outcome (main thread: all database writes happen here).

    A failure is written at once, its attempt row in the same transaction as its state (the planning's
    page must never show a failure its history lacks); successes are collected and written in groups,
    their attempts with them (``attempts`` None: not recorded).
    """
    now = timezone.now()
    fetched: Fetched = future.result()
    if fetched.failure is not None:
        failure = fetched.failure
        error = _printable(str(failure), RefreshAttempt.ERROR_CHARS)
        outcome = services.refresh_item_failed(
            item=item,
            owner=owner,
            failure=services.AttemptFailure(
                kind=failure.kind, last_error=failure.last_error, status=failure.status, retry_after=failure.retry_after
            ),
            now=now,
            jitter=settings.PLANNINGS_REFRESH_BACKOFF_JITTER,
            attempt=_attempt(item, fetched, owner, failure.kind, error=error) if attempts is not None else None,
        )
        result.outcomes[f"{failure.last_error}:{outcome.value}"] += 1
        accounting.outcomes_record(queue=ACCOUNTING_QUEUE, failures=[(item.planning_full_id, failure.last_error)])
        return
    if fetched.unexpected is not None:  # an unexpected error is the spec's own outcome row, not a crash
        exc = fetched.unexpected
        logger.error("refresh %s raised unexpectedly", item.planning_full_id, exc_info=exc)
        error = _printable(f"{type(exc).__name__}: {exc}", 500)
        outcome = services.refresh_item_failed(
            item=item,
            owner=owner,
            failure=services.AttemptFailure(kind="network_error", last_error=error, unexpected=True),
            now=now,
            jitter=settings.PLANNINGS_REFRESH_BACKOFF_JITTER,
            attempt=_attempt(item, fetched, owner, RefreshAttempt.UNEXPECTED, error=error)
            if attempts is not None
            else None,
        )
        result.outcomes[f"unexpected:{outcome.value}"] += 1
        accounting.outcomes_record(queue=ACCOUNTING_QUEUE, failures=[(item.planning_full_id, type(exc).__name__)])
        return
    successes.append((item, fetched.backup))
    if attempts is not None:
        attempts.append(_attempt(item, fetched, owner, RefreshAttempt.SUCCESS, events=fetched.backup.nb_events))
    if len(successes) >= SUCCESS_FLUSH_SIZE:
        _flush(successes, attempts, owner, result)


class _LocalSlots:
    """The per-host limit counted in this drain alone (``shared_per_host=False``: the bench's baseline)."""

    def __init__(self, limit: int):
        self.limit, self.busy = limit, Counter()

    def start(self, host: str) -> bool:
        if self.busy[host] >= self.limit:
            return False
        self.busy[host] += 1
        return True

    def finish(self, host: str) -> None:
        self.busy[host] -= 1

    def give_back_idle(self, waiting: Counter | None = None) -> None:
        pass

    def renew_if_due(self) -> None:
        pass

    def seconds_to_renewal(self) -> float:
        return 60.0

    def close(self) -> None:
        pass


# How often a drain whose next items wait for another drain's host slots asks again.
SLOT_POLL_SECONDS = 0.02


def refresh_drain(*, owner: str, limits: DrainLimits | None = None, record_attempts: bool = True) -> DrainResult:
    """Claim and refresh batches until the queue has nothing ready or the budget is spent.

    Feeds are fetched on a thread pool, at most ``concurrency`` at once in this drain and
    ``per_host`` per URL host across every drain (leased slots, ``plannings.slots``); outcomes are
    written on the calling thread. Past the budget, items still waiting for a host slot are
    given back to the queue unattempted. ``record_attempts=False`` skips the attempt history
    (the throughput bench's "before").
    """
    limits = limits or DrainLimits.from_settings()
    config = feeds.FeedSettings.from_settings()
    result = DrainResult()
    deadline = time.monotonic() + limits.budget.total_seconds()
    host_slots = (
        slots.DrainSlots(holder=f"{owner}/{uuid.uuid4().hex[:8]}", limit=limits.per_host, lease=limits.slot_lease)
        if limits.shared_per_host
        else _LocalSlots(limits.per_host)
    )
    try:
        with feeds.feed_client(config) as client, ThreadPoolExecutor(limits.concurrency) as pool:

            def claim() -> list[services.ClaimedItem]:
                items = services.refresh_queue_claim(
                    owner=owner, limit=limits.batch_size, now=timezone.now(), max_attempts=limits.max_attempts
                )
                result.claimed += len(items)
                return items

            while time.monotonic() < deadline:
                items = claim()
                if not items:
                    break
                _drain_batch(
                    items, claim, owner, limits, deadline, host_slots, client, config, pool, result, record_attempts
                )
    finally:
        host_slots.close()
    return result


def _drain_batch(
    items, claim, owner, limits, deadline, host_slots, client, config, pool, result, record_attempts
) -> None:
    pending = list(items)
    more = True  # the queue may have more ready rows
    successes: list = []
    attempts: list | None = [] if record_attempts else None
    running: dict[Future, services.ClaimedItem] = {}
    while pending or running:
        blocked: set[str] = set()  # hosts whose slots are all held elsewhere: asked once a pass
        for item in list(pending):
            if len(running) >= limits.concurrency:
                break
            if not item.url:
                services.refresh_item_forget(item=item, owner=owner)
                result.outcomes["forgotten"] += 1
                pending.remove(item)
                continue
            host = _host(item.url)
            if host in blocked or not host_slots.start(host):
                blocked.add(host)
                continue
            pending.remove(item)
            running[pool.submit(_fetch_backup, client, item, config, timezone.now())] = item
        startable = len(running) < limits.concurrency and all(_host(item.url) in blocked for item in pending)
        if blocked and startable and more and len(pending) < limits.batch_size and time.monotonic() < deadline:
            # Every item left waits for hosts other drains hold: claim the next batch now rather than
            # idle (at most one batch ahead), so the wait costs this drain's pool nothing.
            extra = claim()
            more = bool(extra)
            pending += extra
            if extra:
                continue
        host_slots.give_back_idle(Counter(_host(item.url) for item in pending))
        if blocked and time.monotonic() >= deadline:
            waiting = [item for item in pending if _host(item.url) in blocked]
            services.refresh_items_give_back(items=waiting, owner=owner)
            result.outcomes["given_back"] += len(waiting)
            pending = [item for item in pending if item not in waiting]
        host_slots.renew_if_due()
        if not running:
            if pending:
                time.sleep(SLOT_POLL_SECONDS)  # every host this batch needs is busy with other drains
            continue
        timeout = SLOT_POLL_SECONDS if blocked else host_slots.seconds_to_renewal()
        done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            item = running.pop(future)
            host_slots.finish(_host(item.url))
            _finish(item, future, owner, result, successes, attempts)
    _flush(successes, attempts, owner, result)


@dataclass(frozen=True)
class PollResult:
    state: str
    drained: DrainResult | None = None
    swept: int = 0
    next_poll_in: timedelta | None = None


def _next_delay(previous_ms: int, worked: bool) -> int:
    """1 s, 2 s, 4 s … up to the max poll while idle; straight back to the minimum after work."""
    minimum = settings.PLANNINGS_REFRESH_WORKER_MIN_POLL_MS
    if worked:
        return 0
    return min(max(previous_ms * 2, minimum), max(settings.PLANNINGS_REFRESH_WORKER_MAX_POLL_MS, minimum))


def refresh_poll(*, owner: str, wake: bool = False) -> PollResult:
    """One tick of the refresh worker: drain when due (or woken), sweep when due, then schedule the next."""
    now = timezone.now()
    if not job_enabled(JOB_REFRESH_WORKER):
        return PollResult(state="disabled")
    runtime = JobRuntime.objects.filter(job_id=JOB_REFRESH_WORKER).first()
    if jobs_paused():
        job_report(JOB_REFRESH_WORKER, State.PAUSED, now=now, loop=True)
        return PollResult(state=State.PAUSED)
    if runtime and runtime.next_poll_at and now < runtime.next_poll_at and not wake:
        return PollResult(state="not_due", next_poll_in=runtime.next_poll_at - now)

    job_report(JOB_REFRESH_WORKER, State.WORKING, now=now, loop=True)
    limits = DrainLimits.from_settings()
    try:
        drained = refresh_drain(owner=owner, limits=limits)
        swept = 0
        sweep_every = timedelta(milliseconds=settings.PLANNINGS_REFRESH_WORKER_SWEEP_INTERVAL_MS)
        last_sweep = runtime.last_sweep_at if runtime else None
        sweep_due = last_sweep is None or timezone.now() - last_sweep >= sweep_every
        if sweep_due:
            swept = services.refresh_dead_rows_sweep(
                now=timezone.now(),
                limit=settings.PLANNINGS_REFRESH_WORKER_SWEEP_LIMIT,
                max_attempts=limits.max_attempts,
            )
            slots.host_slots_sweep(now=timezone.now())
    except Exception as exc:  # recorded for the health endpoint, then raised for Celery to log
        job_report(JOB_REFRESH_WORKER, State.IDLE, now=timezone.now(), error=f"{type(exc).__name__}: {exc}")
        raise
    done_at = timezone.now()
    delay_ms = _next_delay(runtime.poll_delay_ms if runtime else 0, worked=drained.claimed > 0)
    extra = {"next_poll_at": done_at + timedelta(milliseconds=delay_ms), "poll_delay_ms": delay_ms}
    if sweep_due:
        extra["last_sweep_at"] = done_at
    job_report(JOB_REFRESH_WORKER, State.IDLE, now=done_at, loop=True, work=drained.claimed > 0 or swept > 0, **extra)
    return PollResult(state=State.IDLE, drained=drained, swept=swept, next_poll_in=timedelta(milliseconds=delay_ms))
