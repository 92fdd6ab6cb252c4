"""Quiet hours (plannings spec §6) as a pure function: separators, midnight, bad values, zones, DST."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from plannings.quiet_hours import in_quiet_hours, parse_quiet_hours

PARIS = "Europe/Paris"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "paris_hour_minute", "quiet"),
    [
        ("21:00–06:00", (20, 59), False),
        ("21:00–06:00", (21, 0), True),  # start inclusive
        ("21:00–06:00", (23, 59), True),
        ("21:00–06:00", (0, 0), True),  # crosses midnight
        ("21:00–06:00", (5, 59), True),
        ("21:00–06:00", (6, 0), False),  # end exclusive
        ("21:00-06:00", (22, 0), True),  # hyphen works too
        ("09:30-17:45", (9, 29), False),
        ("09:30-17:45", (9, 30), True),
        ("09:30-17:45", (17, 45), False),
        ("06:00-06:00", (6, 0), True),  # start == end: always quiet
        ("06:00-06:00", (18, 0), True),
        ("0:00-23:59", (12, 0), True),  # single-digit hours parse
    ],
)
def test_windows_on_a_winter_day(spec, paris_hour_minute, quiet):
    hour, minute = paris_hour_minute
    at = datetime(2026, 1, 15, hour, minute, tzinfo=ZoneInfo(PARIS))
    assert in_quiet_hours(spec, PARIS, at) is quiet


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "21:00",
        "21:00 – 06:00",
        "24:00-06:00",
        "21:60-06:00",
        "21-06",
        "ab:cd-ef:gh",
        "21:00—06:00",
        "21:00–06:00x",
    ],
)
def test_unparseable_values_disable_quiet_hours(spec):
    assert parse_quiet_hours(spec) is None
    assert in_quiet_hours(spec, PARIS, _utc(2026, 1, 15, 23, 0)) is False


def test_the_window_is_read_on_the_configured_wall_clock():
    at = _utc(2026, 1, 15, 20, 30)  # 21:30 in Paris, 20:30 in UTC, 15:30 in New York
    assert in_quiet_hours("21:00–06:00", PARIS, at) is True
    assert in_quiet_hours("21:00–06:00", "UTC", at) is False
    assert in_quiet_hours("15:00-16:00", "America/New_York", at) is True


def test_an_unknown_time_zone_falls_back_to_utc():
    assert in_quiet_hours("20:00-21:00", "Mars/Olympus", _utc(2026, 1, 15, 20, 30)) is True


def test_dst_days_follow_the_local_clock():
    # 2026-03-29: Paris moves from UTC+1 to UTC+2 at 02:00 local.
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 3, 29, 3, 59)) is True  # 05:59 CEST
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 3, 29, 4, 0)) is False  # 06:00 CEST
    # The day before, 04:00 UTC was still 05:00 local: quiet.
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 3, 28, 4, 0)) is True
    # 2026-10-25: back to UTC+1 at 03:00 local; 05:00 UTC is 06:00 CET.
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 10, 25, 4, 59)) is True
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 10, 25, 5, 0)) is False
    # In summer the window starts at 19:00 UTC.
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 7, 1, 19, 0)) is True
    assert in_quiet_hours("21:00–06:00", PARIS, _utc(2026, 7, 1, 18, 59)) is False
