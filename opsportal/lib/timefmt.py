"""Times for machines and for people.

API payloads: ISO-8601 in UTC with milliseconds and ``Z``, as JavaScript's JSON dates are.
Pages: one format everywhere, relative ("3 min ago") with the exact UTC time on hover, in a
``<time>`` element so a screen reader or a script still gets the machine-readable moment.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

# Below this many seconds the difference is noise (clocks, the page's own render time).
JUST_NOW_SECONDS = 10
NO_TIME = "—"


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_timestamp(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, tz=UTC))


def time_parse(value: datetime | str | None) -> datetime | None:
    """A datetime from a datetime or an ISO-8601 string (Docker's nanoseconds included); None if neither.

    A naive datetime is read as UTC: the portal stores and computes in UTC (``USE_TZ``).
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Docker writes nanoseconds; fromisoformat takes at most microseconds in Python 3.11.
        head, dot, tail = text.partition(".")
        if dot:
            digits = len(tail) - len(tail.lstrip("0123456789"))
            text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}" if digits else head + tail[digits:]
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def time_relative(value: datetime, now: datetime) -> str:
    """ "just now", "42 s ago", "3 min ago", "5 h ago", "12 d ago"; "in 3 min" for a future time."""
    seconds = (now - value).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < JUST_NOW_SECONDS:
        return "just now"
    if seconds < 60:
        amount = f"{int(seconds)} s"
    elif seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} d"
    return f"in {amount}" if future else f"{amount} ago"


def time_exact(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_html(value: datetime | str | None, now: datetime) -> SafeString | str:
    """``<time datetime="2026-12-01T05:40:00Z" title="2026-12-01 05:40:00 UTC">3 min ago</time>``.

    None or an empty string gives "—"; a string that is not a time is returned as it is
    (escaped by the template), so an odd value from an engine is shown rather than hidden.
    """
    if value is None or value == "":
        return NO_TIME
    moment = time_parse(value)
    if moment is None:
        return str(value)
    utc = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        time_exact(utc),
        time_relative(utc, now),
    )
