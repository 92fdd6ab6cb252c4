"""Reads of the alerts for the API, /metrics and the dashboard badge."""

from __future__ import annotations

from django.db.models import Count

from opsportal.alerts.models import Alert


def alerts_list(*, open_only: bool, limit: int) -> list[Alert]:
    """Open alerts first (alerting before pending), then the newest history, with their notifications."""
    rows = Alert.objects.select_related("rule").prefetch_related("notifications__channel")
    if open_only:
        rows = rows.filter(is_open=True)
    return list(rows.order_by("-is_open", "state", "-started_at")[:limit])


def open_alert_counts() -> dict[str, int]:
    """Open alerts by state (``pending``, ``alerting``) and how many of them flap."""
    counts = {"pending": 0, "alerting": 0, "flapping": 0}
    for row in Alert.objects.filter(is_open=True).values("state", "flapping").annotate(n=Count("id")):
        counts[row["state"]] += row["n"]
        counts["flapping"] += row["n"] if row["flapping"] else 0
    return counts


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(is_open=True).select_related("rule").order_by("state", "rule__name", "target"))
