"""Job accounting: counts of finished jobs per queue in one-minute buckets, in Redis.

Every finished Celery task (any worker, any machine) and every refresh-queue item
the plannings runner finishes is recorded with one pipelined round trip: a counter
increment in the current minute's bucket and, for a failure, its error text's
count and latest job id. Buckets expire by themselves after two hours, so reading
``/queues`` costs the same whatever the history: at most 60 buckets per queue.

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

BUCKET_SECONDS = 60
KEEP_SECONDS = 2 * 60 * 60
ERROR_TEXT_MAX = 300
PREFIX = "opsportal:jobs"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis() -> redis.Redis | None:
    url = settings.OPSPORTAL_ACCOUNTING_REDIS_URL
    if not url:
        return None
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return _clients[url]


def _bucket(at: float) -> int:
    return int(at // BUCKET_SECONDS)


def jobs_record(
    *, queue: str, succeeded: int = 0, failures: list[tuple[str, str]] = (), at: float | None = None
) -> bool:
    """Count finished jobs of one queue in one round trip: ``succeeded`` and ``(job_id, error)`` failures.

    Returns False (and logs) when the store cannot be reached or accounting is off.
    """
    client = _redis()
    if client is None or (not succeeded and not failures):
        return False
    at = time.time() if at is None else at
    bucket = _bucket(at)
    counts = f"{PREFIX}:{queue}:{bucket}"
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(counts, "processed", succeeded + len(failures))
    # Lifetime totals (never expire) feed the Prometheus counters of /metrics.
    pipe.hincrby(f"{PREFIX}:{queue}:total", "processed", succeeded + len(failures))
    if failures:
        pipe.hincrby(f"{PREFIX}:{queue}:total", "failed", len(failures))
        errors, latest = f"{PREFIX}:{queue}:{bucket}:errors", f"{PREFIX}:{queue}:{bucket}:latest"
        pipe.hincrby(counts, "failed", len(failures))
        for job_id, error in failures:
            text = (error or "unknown error").strip()[:ERROR_TEXT_MAX]
            pipe.hincrby(errors, text, 1)
            pipe.hset(latest, text, f"{at:.3f}|{job_id}")
        pipe.expire(errors, KEEP_SECONDS)
        pipe.expire(latest, KEEP_SECONDS)
    pipe.expire(counts, KEEP_SECONDS)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("job accounting unavailable: %s", exc)
        return False
    return True


def job_record(*, queue: str, ok: bool, job_id: str = "", error: str = "", at: float | None = None) -> bool:
    """Count one finished job."""
    if ok:
        return jobs_record(queue=queue, succeeded=1, at=at)
    return jobs_record(queue=queue, failures=[(job_id, error)], at=at)


@dataclass(frozen=True)
class QueueFigures:
    processed_last_5_min: int
    failures_last_hour: int

    @property
    def processed_per_sec(self) -> float:
        return round(self.processed_last_5_min / 300, 3)


class AccountingUnavailable(Exception):
    pass


def queue_figures(queues: list[str], *, now: float | None = None) -> tuple[dict[str, QueueFigures], list[dict]]:
    """Per-queue figures and the error groups of the last hour (newest first, 20 at most)."""
    client = _redis()
    if client is None:
        return {q: QueueFigures(0, 0) for q in queues}, []
    now = time.time() if now is None else now
    current = _bucket(now)
    buckets = range(current - 59, current + 1)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for bucket in buckets:
            pipe.hmget(f"{PREFIX}:{queue}:{bucket}", "processed", "failed")
            pipe.hgetall(f"{PREFIX}:{queue}:{bucket}:errors")
            pipe.hgetall(f"{PREFIX}:{queue}:{bucket}:latest")
    try:
        replies = iter(pipe.execute())
    except redis.RedisError as exc:
        raise AccountingUnavailable(str(exc)) from None
    figures, groups = {}, defaultdict(lambda: {"count": 0, "timestamp": 0.0, "job_id": ""})
    for queue in queues:
        processed_5, failed_60 = 0, 0
        for bucket in buckets:
            processed, failed = next(replies)
            errors, latest = next(replies), next(replies)
            if bucket > current - 5:
                processed_5 += int(processed or 0)
            failed_60 += int(failed or 0)
            for text, count in errors.items():
                group = groups[(queue, text.decode("utf-8", "replace"))]
                group["count"] += int(count)
                stamp, _, job_id = latest.get(text, b"0|").decode().partition("|")
                if float(stamp) >= group["timestamp"]:
                    group["timestamp"], group["job_id"] = float(stamp), job_id
        figures[queue] = QueueFigures(processed_5, failed_60)
    errors = sorted(
        ({"queue": q, "error": text, **values} for (q, text), values in groups.items()),
        key=lambda e: e["timestamp"],
        reverse=True,
    )[:20]
    return figures, errors


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
