"""Maintenance windows' times, pure: when a weekly window is open, and when it opens next. UTC throughout."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

DAYS = 7


class Span(NamedTuple):
    starts_at: datetime
    ends_at: datetime


def weekdays_parse(text: str) -> tuple[int, ...]:
    """``"0,3"`` -> ``(0, 3)``, Monday 0 to Sunday 6; anything else is a ``ValueError`` saying so."""
    days = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 <= int(part) < DAYS:
            raise ValueError(f"{part!r} is not a day: Monday 0 to Sunday 6")
        days.add(int(part))
    return tuple(sorted(days))


def weekly_occurrence(now: datetime, *, days: tuple[int, ...], start: time, duration: timedelta) -> Span | None:
    """The occurrence of a weekly window open at ``now``, else the next one. An occurrence that began on
    an earlier day (a Sunday 23:00 window of three hours) is still open on the next morning, so the days
    looked back over are as many as the duration spans."""
    if not days or duration <= timedelta(0):
        return None
    now = now.astimezone(UTC)
    today = now.date()
    back = duration.days + 1
    for offset in range(-back, DAYS + 1):
        day = today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, start.replace(tzinfo=None), tzinfo=UTC)
        closes = opens + duration
        if closes > now:
            return Span(opens, closes)
    return None
