"""The one client for timetable feed servers: fetch an ICS feed over HTTP, parse it into events.

Every way a feed can fail is turned into a ``FeedFailure`` whose ``kind`` is one
of upstream's failure kinds (``plannings.policy``), so the worker's retry policy
never sees a library exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import httpx
from dateutil.relativedelta import relativedelta

from plannings import ics, policy

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
HTML_MARKERS = ("500 Internal Server Error", "<!DOCTYPE ")


@dataclass
class FeedFailure(Exception):
    kind: str
    detail: str = ""
    status: int | None = None
    retry_after: timedelta | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind

    @property
    def last_error(self) -> str:
        """The queue/state ``last_error`` text: ``http_<status>`` for client errors, else the kind."""
        if self.kind == policy.HTTP_4XX and self.status:
            return f"http_{self.status}"
        return self.kind


@dataclass(frozen=True)
class FeedSettings:
    timeout: timedelta
    max_bytes: int
    verify_tls: bool
    zone: ZoneInfo

    @classmethod
    def from_settings(cls) -> FeedSettings:
        from django.conf import settings

        return cls(
            timeout=timedelta(milliseconds=settings.CURL_TIMEOUT),
            max_bytes=settings.PLANNINGS_FEED_MAX_BYTES,
            verify_tls=settings.PLANNINGS_FEED_VERIFY_TLS,
            zone=ZoneInfo(settings.PLANNINGS_FEED_TIMEZONE),
        )


def feed_url(url: str, *, today: date) -> str:
    """Fill upstream's date templates: today − 1 month and today + 2 years, ``YYYY-MM-DD``."""
    start = today - relativedelta(months=1)
    end = today + relativedelta(years=2)
    return url.replace("{date-start}", start.isoformat()).replace("{date-end}", end.isoformat())


# A server's Retry-After is honoured up to a week: past that it is a misconfiguration, and a
# larger number would overflow timedelta (or the database's interval) anyway.
RETRY_AFTER_MAX = timedelta(days=7)


def _ascii_digits(value: str) -> bool:
    # str.isdigit() is also true of '²' and other Unicode digits, which int() refuses.
    return value.isascii() and value.isdigit()


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """Retry-After in seconds or as an HTTP date, at most a week; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if _ascii_digits(value):
        return timedelta(seconds=min(int(value), int(RETRY_AFTER_MAX.total_seconds())))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), RETRY_AFTER_MAX)


def _refused(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def feed_client(config: FeedSettings) -> httpx.Client:
    seconds = config.timeout.total_seconds()
    return httpx.Client(
        timeout=httpx.Timeout(seconds),
        verify=config.verify_tls,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept": "text/calendar, */*"},
    )


@dataclass(frozen=True)
class FeedResponse:
    status: int  # the final status, after redirects (the attempt history shows it)
    body: bytes


def feed_fetch(client: httpx.Client, url: str, *, config: FeedSettings) -> bytes:
    """The feed's body (see ``feed_get``)."""
    return feed_get(client, url, config=config).body


def feed_get(client: httpx.Client, url: str, *, config: FeedSettings) -> FeedResponse:
    """GET the feed; the whole exchange must end within the timeout and the size limit."""
    seconds = config.timeout.total_seconds()
    deadline = time.monotonic() + seconds
    try:
        with client.stream("GET", url) as response:
            status = response.status_code
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
                raise FeedFailure(policy.HTTP_429, "HTTP 429", status=status, retry_after=retry_after)
            if 400 <= status < 500:
                raise FeedFailure(policy.HTTP_4XX, f"HTTP {status}", status=status)
            if status >= 500:
                raise FeedFailure(policy.HTTP_5XX, f"HTTP {status}", status=status)
            declared = response.headers.get("content-length", "")
            if _ascii_digits(declared) and int(declared) > config.max_bytes:
                raise FeedFailure(policy.INVALID_BODY, f"body of {declared} bytes is over the limit", status=status)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > config.max_bytes:
                    raise FeedFailure(policy.INVALID_BODY, f"body over {config.max_bytes} bytes", status=status)
                if time.monotonic() > deadline:
                    raise FeedFailure(policy.TIMEOUT, f"body not received within {seconds:g} s", status=status)
                chunks.append(chunk)
            return FeedResponse(status=status, body=b"".join(chunks))
    except httpx.TimeoutException:
        raise FeedFailure(policy.TIMEOUT, f"no answer within {seconds:g} s") from None
    except httpx.ConnectError as exc:
        kind = policy.CONNECTION_REFUSED if _refused(exc) else policy.NETWORK_ERROR
        raise FeedFailure(kind, str(exc)) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FeedFailure(policy.NETWORK_ERROR, f"{type(exc).__name__}: {exc}") from None


def feed_parse(body: bytes, *, zone: ZoneInfo) -> list[dict]:
    """Every VEVENT as ``{uid, summary, startDate, endDate, location, description}``."""
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        raise FeedFailure(policy.INVALID_BODY, "empty body")
    if any(marker in text for marker in HTML_MARKERS):
        raise FeedFailure(policy.INVALID_BODY, "an HTML page, not a calendar")
    if "BEGIN:VCALENDAR" not in text:
        raise FeedFailure(policy.PARSE_ERROR, "not iCalendar (no BEGIN:VCALENDAR)")
    try:
        return ics.parse_events(text, zone)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # The reference parser's ways of saying "this is not valid iCalendar".
        raise FeedFailure(policy.PARSE_ERROR, f"{type(exc).__name__}: {exc}") from None
