"""The alerts' Celery beat task: thin, it calls the services. Time limits are the project's (settings)."""

from __future__ import annotations

from celery import shared_task

from opsportal.alerts.delivery import notifications_deliver
from opsportal.alerts.services import alerts_evaluate, alerts_prune


@shared_task(name="alerts.evaluate", ignore_result=True)
def alerts_evaluate_task() -> dict:
    """One evaluation pass (skipped when another worker holds the evaluator lock), then the due
    notifications, new ones and retries (each claimed on its own, so any worker may send them)."""
    result = alerts_evaluate()
    sent = notifications_deliver()
    return {"ran": result.ran, "fired": result.fired, "resolved": result.resolved, **sent}


@shared_task(name="alerts.prune", ignore_result=True)
def alerts_prune_task() -> dict:
    """Hourly: the history past its retention (OPSPORTAL_ALERTS_RETENTION_DAYS), a bounded amount a run."""
    return alerts_prune()
