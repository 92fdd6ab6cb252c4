"""Reads of the alerts for the API, /metrics and the dashboard badge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet

from opsportal.alerts.models import ALERTING_RANK, LIST_ORDER, Alert, EvaluatorState, MaintenanceWindow
from opsportal.lib.health_status import HealthStatus, status_worst


def alerts_listed(*, open_only: bool) -> QuerySet[Alert]:
    """The alerts to page through (``opsportal.api.paging``), with ``alerting_rank`` to order on:
    ``is_open`` descending, ``alerting_rank``, ``started_at`` descending, ``id`` descending is the list's order."""
    rows = Alert.objects.select_related("rule").prefetch_related("grouped_notifications__channel")
    if open_only:
        rows = rows.filter(is_open=True)
    return rows.annotate(alerting_rank=ALERTING_RANK)


def alerts_list(*, open_only: bool, limit: int) -> list[Alert]:
    """Open alerts first (alerting before pending), then the newest history, with their notifications
    (those listing them: a group's notification shows on each of its alerts)."""
    rows = Alert.objects.select_related("rule").prefetch_related("grouped_notifications__channel")
    if open_only:
        rows = rows.filter(is_open=True)
    return list(rows.order_by(*LIST_ORDER)[:limit])


def open_alert_counts() -> dict[str, int]:
    """Open alerts by state (``pending``, ``alerting``), how many of them flap, and how many are acknowledged."""
    counts = {"pending": 0, "alerting": 0, "flapping": 0, "acknowledged": 0}
    rows = (
        Alert.objects.filter(is_open=True)
        .values("state", "flapping")
        .annotate(n=Count("id"), acked=Count("acknowledged_at"))
    )
    for row in rows:
        counts[row["state"]] += row["n"]
        counts["flapping"] += row["n"] if row["flapping"] else 0
        counts["acknowledged"] += row["acked"]
    return counts


@dataclass(frozen=True)
class WindowShown:
    """A maintenance window with its occurrence open now (``is_open``) or the next one to come."""

    window: MaintenanceWindow
    starts_at: datetime
    ends_at: datetime
    is_open: bool


def maintenance_windows_listed(*, now: datetime, within: timedelta | None = None) -> list[WindowShown]:
    """The windows open at ``now`` and those to come (within ``within`` when given): open ones first,
    then by their next start. One statement."""
    shown = []
    for window in MaintenanceWindow.objects.not_over(now).select_related("rule"):
        span = window.occurrence(now)
        if span is None or (within is not None and span.starts_at > now + within):
            continue
        shown.append(WindowShown(window, span.starts_at, span.ends_at, span.starts_at <= now))
    return sorted(shown, key=lambda row: (not row.is_open, row.starts_at, row.window.name))


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(is_open=True).select_related("rule").order_by("state", "rule__name", "target"))


# An open alert's place on the health ladder: firing is unhealthy, seen but within its grace degraded.
ALERT_STATUS = {Alert.State.ALERTING: HealthStatus.UNHEALTHY, Alert.State.PENDING: HealthStatus.DEGRADED}
UNKNOWN = "unknown"  # the evaluator has not passed lately: no alert is no news, not good news
STALE_PASSES = 3
VERDICT_NAMED = 3


@dataclass(frozen=True)
class OpenAlert:
    pk: int
    rule: str
    target: str
    state: str


@dataclass(frozen=True)
class Verdict:
    """The portal's verdict: the status of the worst open alert (of the given rule kinds), or
    ``unknown`` while the evaluator is not passing, so "healthy" always means "watched and quiet"."""

    status: str  # a HealthStatus value, or UNKNOWN
    alerting: int
    pending: int
    worst: tuple[OpenAlert, ...]  # the first few open alerts, alerting before pending
    last_pass_at: datetime | None

    @property
    def more(self) -> int:
        return self.alerting + self.pending - len(self.worst)


def portal_verdict(*, now: datetime, kinds: tuple[str, ...] | None = None) -> Verdict:
    """Two statements: the evaluator's last pass, and the open alerts (of ``kinds``; every kind
    without). Open alerts are the fleet's size at most (the evaluator keeps no more open), so
    they are read whole and counted here rather than by a second, grouped statement."""
    last_pass_at = EvaluatorState.objects.filter(pk=1).values_list("last_pass_at", flat=True).first()
    rows = Alert.objects.filter(is_open=True)
    if kinds is not None:
        rows = rows.filter(rule__kind__in=kinds)
    alerts = [
        OpenAlert(*row)
        for row in rows.order_by("state", "rule__name", "target").values_list("pk", "rule__name", "target", "state")
    ]
    status = status_worst(ALERT_STATUS[alert.state] for alert in alerts).value
    stale_after = timedelta(seconds=STALE_PASSES * settings.OPSPORTAL_ALERTS_EVALUATE_SECONDS)
    if last_pass_at is None or now - last_pass_at > stale_after:
        status = UNKNOWN
    return Verdict(
        status=status,
        alerting=sum(alert.state == Alert.State.ALERTING for alert in alerts),
        pending=sum(alert.state == Alert.State.PENDING for alert in alerts),
        worst=tuple(alerts[:VERDICT_NAMED]),
        last_pass_at=last_pass_at,
    )


def alert_detail(*, pk: int) -> Alert | None:
    """One alert as the list shows it (its rule, its notifications), or None."""
    rows = Alert.objects.select_related("rule").prefetch_related("grouped_notifications__channel")
    return rows.filter(pk=pk).first()
