"""Times in API payloads: ISO-8601 in UTC with milliseconds and ``Z``, as JavaScript's JSON dates are."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_timestamp(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, tz=UTC))
