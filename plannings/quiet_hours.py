"""Quiet hours (plannings spec §6): a pure function of a spec string and an instant."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})[–-](\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time


def parse_quiet_hours(spec: str) -> QuietWindow | None:
    """``HH:MM–HH:MM`` (en dash or hyphen, no spaces); None when unparseable (= no quiet hours)."""
    match = _WINDOW.match(spec or "")
    if not match:
        return None
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h > 23 or end_h > 23 or start_m > 59 or end_m > 59:
        return None
    return QuietWindow(time(start_h, start_m), time(end_h, end_m))


def in_quiet_hours(spec: str, tz_name: str, at: datetime) -> bool:
    """Whether ``at`` (aware) falls in the window, evaluated on the wall clock of ``tz_name``.

    Start is inclusive, end exclusive; start >= end crosses midnight, so an
    empty-looking ``06:00-06:00`` means "always quiet". An unknown time zone
    falls back to UTC rather than stopping the jobs.
    """
    window = parse_quiet_hours(spec)
    if window is None:
        return False
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    wall = at.astimezone(zone).time().replace(tzinfo=None)
    if window.start < window.end:
        return window.start <= wall < window.end
    return wall >= window.start or wall < window.end
