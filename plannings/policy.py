"""The refresh worker's retry policy (plannings spec §4) as pure functions of a failure."""

from __future__ import annotations

import random
from datetime import timedelta

# Failure kinds, as upstream names them.
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection_refused"
NETWORK_ERROR = "network_error"
HTTP_429 = "http_429"
HTTP_4XX = "http_4xx"
HTTP_5XX = "http_5xx"
INVALID_BODY = "invalid_body"
PARSE_ERROR = "parse_error"
MAX_ATTEMPTS = "max_attempts"
# What the portal shows beside any failure: a failing now, of any kind (the list filter's ``?failure=any``).
ANY_FAILURE = "any"


def failure_value(kind: str | None, last_error: str | None) -> str | None:
    """A failure as every page names it (one vocabulary): a client error by its status (``http_404``, as its
    ``last_error`` says), any other failure by its kind (``timeout``, ``http_5xx``)."""
    if not kind:
        return None
    if kind == HTTP_4XX and (last_error or "").startswith("http_4"):
        return last_error
    return kind


def failure_label(value: str | None) -> str:
    """``http_404`` as "HTTP 404", ``http_5xx`` as "HTTP 5xx", ``parse_error`` as "parse error"."""
    if not value:
        return "-"
    if value.startswith("http_"):
        return f"HTTP {value.removeprefix('http_')}"
    return value.replace("_", " ")


BACKOFF_CAP = timedelta(minutes=10)
JITTER = 0.20
UNEXPECTED_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_BASE = {
    CONNECTION_REFUSED: timedelta(seconds=30),
    TIMEOUT: timedelta(seconds=10),
    PARSE_ERROR: timedelta(seconds=60),
    INVALID_BODY: timedelta(seconds=60),
}
_DEFAULT_BACKOFF_BASE = timedelta(seconds=5)

_DISABLE_FOR = {
    PARSE_ERROR: timedelta(hours=24),
    INVALID_BODY: timedelta(hours=24),
    CONNECTION_REFUSED: timedelta(hours=12),
}
_DEFAULT_DISABLE_FOR = timedelta(hours=6)


def backoff_base(kind: str) -> timedelta:
    return _BACKOFF_BASE.get(kind, _DEFAULT_BACKOFF_BASE)


def backoff(
    *,
    attempt: int,
    base: timedelta,
    retry_after: timedelta | None = None,
    jitter: bool = True,
) -> timedelta:
    """``min(base * 2^(attempt-1), 10 min)`` ±20 %, and never sooner than a server's Retry-After."""
    delay = min(base * (2 ** max(attempt - 1, 0)), BACKOFF_CAP)
    if jitter:
        delay *= 1 + random.uniform(-JITTER, JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def disable_for(kind: str, status: int | None = None) -> timedelta:
    """How long a planning is disabled after a permanent failure of this kind."""
    if kind == HTTP_4XX:
        return timedelta(days=30) if status == 404 else timedelta(days=7)
    return _DISABLE_FOR.get(kind, _DEFAULT_DISABLE_FOR)
