"""The alerts' Celery beat task: thin, it calls the services. Time limits are the project's (settings)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from opsportal.alerts.delivery import notifications_deliver
from opsportal.alerts.services import alerts_evaluate, alerts_prune
from opsportal.workers.services import periodic_claim

SKIPPED = {"skipped": "already run this period (another beat)"}


def _period_claimed(name: str, period: float | None) -> bool:
    """Beat sends ``period``: one run per period however many beats send it (a deploy overlaps two),
    so rules' grace counts evaluations, not beats. Without it (a test, by hand) the task just runs."""
    return period is None or periodic_claim(name=name, period=timedelta(seconds=period), now=timezone.now())


@shared_task(name="alerts.evaluate", ignore_result=True)
def alerts_evaluate_task(period: float | None = None) -> dict:
    """One evaluation pass (skipped when another worker holds the evaluator lock), then the due
    notifications, new ones and retries (each claimed on its own, so any worker may send them)."""
    if not _period_claimed("alerts.evaluate", period):
        return SKIPPED
    result = alerts_evaluate()
    sent = notifications_deliver()
    return {"ran": result.ran, "fired": result.fired, "resolved": result.resolved, **sent}


@shared_task(name="alerts.prune", ignore_result=True)
def alerts_prune_task(period: float | None = None) -> dict:
    """Hourly: the history past its retention (OPSPORTAL_ALERTS_RETENTION_DAYS), a bounded amount a run."""
    if not _period_claimed("alerts.prune", period):
        return SKIPPED
    return alerts_prune()
