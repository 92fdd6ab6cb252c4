"""Job accounting: counts of finished jobs per queue in time buckets, in Redis.

Every finished Celery task (any worker, any machine) and every refresh-queue item
the plannings runner finishes is recorded with one pipelined round trip: a counter
in the current minute's bucket and, for a failure, a counter in the current
ten-minute bucket, its error text's count there, the text's newest time (a sorted
set) and latest job id. Buckets expire by themselves after two hours, and reading
``/queues`` touches a fixed number of keys per queue, so it costs the same however
many jobs were counted.

Recording never raises: accounting must not fail the job it counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEEP_SECONDS = 2 * 60 * 60
ERROR_TEXT_MAX = 300
PREFIX = "opsportal:jobs"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def accounting_enabled() -> bool:
    """Whether finished jobs are counted: a Redis is configured (OPSPORTAL_ACCOUNTING_REDIS_URL)."""
    return bool(settings.OPSPORTAL_ACCOUNTING_REDIS_URL)


def _redis() -> redis.Redis | None:
    url = settings.OPSPORTAL_ACCOUNTING_REDIS_URL
    if not url:
        return None
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return _clients[url]


def _minute(at: float) -> int:
    return int(at // 60)


def _ten_minutes(at: float) -> int:
    return int(at // 600)


def outcomes_record(
    *, queue: str, succeeded: int = 0, failures: list[tuple[str, str]] = (), at: float | None = None
) -> bool:
    """Count finished jobs of one queue in one round trip: ``succeeded`` and ``(job_id, error)`` failures.

    Returns False (and logs) when the store cannot be reached or accounting is off.
    """
    client = _redis()
    if client is None or (not succeeded and not failures):
        return False
    at = time.time() if at is None else at
    finished = succeeded + len(failures)
    base = f"{PREFIX}:{queue}"
    minute, tens = f"{base}:m:{_minute(at)}", f"{base}:t:{_ten_minutes(at)}"
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(minute, "processed", finished)
    pipe.expire(minute, KEEP_SECONDS)
    # Lifetime totals (never expire) feed the Prometheus counters of /metrics.
    pipe.hincrby(f"{base}:total", "processed", finished)
    if failures:
        errors = f"{base}:e:{_ten_minutes(at)}"
        pipe.hincrby(tens, "failed", len(failures))
        pipe.hincrby(f"{base}:total", "failed", len(failures))
        for job_id, error in failures:
            text = (error or "unknown error").strip()[:ERROR_TEXT_MAX]
            pipe.hincrby(errors, text, 1)
            pipe.zadd(f"{base}:recent", {text: at})  # newest time per error text
            pipe.hset(f"{base}:latest", text, job_id)
        pipe.zremrangebyscore(f"{base}:recent", "-inf", at - KEEP_SECONDS)
        for key in (tens, errors, f"{base}:recent", f"{base}:latest"):
            pipe.expire(key, KEEP_SECONDS)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("job accounting unavailable: %s", exc)
        return False
    return True


def task_outcome_record(*, queue: str, ok: bool, job_id: str = "", error: str = "", at: float | None = None) -> bool:
    """Count one finished job."""
    if ok:
        return outcomes_record(queue=queue, succeeded=1, at=at)
    return outcomes_record(queue=queue, failures=[(job_id, error)], at=at)


@dataclass(frozen=True)
class QueueFigures:
    processed_last_5_min: int
    failures_last_hour: int

    @property
    def processed_per_sec(self) -> float:
        return round(self.processed_last_5_min / 300, 3)


class AccountingUnavailable(Exception):
    pass


MAX_ERRORS = 20


def queue_figures(queues: list[str], *, now: float | None = None) -> tuple[dict[str, QueueFigures], list[dict]]:
    """Per-queue figures and the error groups of the last hour (newest first, 20 at most).

    Two round trips, a fixed number of keys per queue, whatever the history: the
    last five minute buckets, the last six ten-minute buckets (plus the current
    one: failures count over 60 to 70 minutes), and the 20 newest error texts.
    """
    client = _redis()
    if client is None:  # accounting is off: nothing was counted, so no figure (not zeros that look measured)
        return {}, []
    now = time.time() if now is None else now
    minutes = range(_minute(now) - 4, _minute(now) + 1)
    tens = range(_ten_minutes(now) - 6, _ten_minutes(now) + 1)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        base = f"{PREFIX}:{queue}"
        for minute in minutes:
            pipe.hget(f"{base}:m:{minute}", "processed")
        for ten in tens:
            pipe.hget(f"{base}:t:{ten}", "failed")
        pipe.zrevrangebyscore(f"{base}:recent", "+inf", now - 3600, start=0, num=MAX_ERRORS, withscores=True)
    try:
        replies = iter(pipe.execute())
        figures, recent = {}, {}
        for queue in queues:
            processed = sum(int(next(replies) or 0) for _ in minutes)
            failed = sum(int(next(replies) or 0) for _ in tens)
            figures[queue] = QueueFigures(processed, failed)
            recent[queue] = [(text.decode("utf-8", "replace"), score) for text, score in next(replies)]
        # The 20 newest error texts over all queues; only those are counted.
        newest = sorted(
            ((queue, text, latest) for queue in queues for text, latest in recent[queue]),
            key=lambda entry: entry[2],
            reverse=True,
        )[:MAX_ERRORS]
        if not newest:
            return figures, []
        chosen: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for queue, text, latest in newest:
            chosen[queue].append((text, latest))
        pipe = client.pipeline(transaction=False)
        for queue, entries in chosen.items():
            texts = [text for text, _ in entries]
            pipe.hmget(f"{PREFIX}:{queue}:latest", texts)
            for ten in tens:
                pipe.hmget(f"{PREFIX}:{queue}:e:{ten}", texts)
        replies = iter(pipe.execute())
    except redis.RedisError as exc:
        raise AccountingUnavailable(str(exc)) from None
    errors = []
    for queue, entries in chosen.items():
        job_ids = next(replies)
        counts = [0] * len(entries)
        for _ in tens:
            for index, count in enumerate(next(replies)):
                counts[index] += int(count or 0)
        for (text, latest), job_id, count in zip(entries, job_ids, counts, strict=True):
            errors.append(
                {"queue": queue, "error": text, "timestamp": latest, "count": count, "job_id": (job_id or b"").decode()}
            )
    errors.sort(key=lambda e: e["timestamp"], reverse=True)
    return figures, errors[:MAX_ERRORS]


def queue_totals(queues: list[str]) -> dict[str, tuple[int, int]]:
    """Lifetime (processed, failed) per queue, for monotonic counters."""
    client = _redis()
    if client is None:
        return {}
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hmget(f"{PREFIX}:{queue}:total", "processed", "failed")
    try:
        replies = pipe.execute()
    except redis.RedisError as exc:
        raise AccountingUnavailable(str(exc)) from None
    return {queue: (int(p or 0), int(f or 0)) for queue, (p, f) in zip(queues, replies, strict=True)}
