"""The ladder of health statuses, best first: the one definition the plannings health report, its
history, the alert rules and the dashboard's verdict all read, so a status is ranked the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


class HealthStatus(models.TextChoices):
    # In rank order, best first: the order is the ladder.
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


LADDER: tuple[HealthStatus, ...] = tuple(HealthStatus)


def status_rank(status: str) -> int:
    """0 for healthy, higher is worse; a value off the ladder raises ValueError."""
    return LADDER.index(HealthStatus(status))


def status_worst(statuses: Iterable[str]) -> HealthStatus:
    """The worst of ``statuses``; healthy when there are none."""
    return max((HealthStatus(status) for status in statuses), key=status_rank, default=HealthStatus.HEALTHY)
