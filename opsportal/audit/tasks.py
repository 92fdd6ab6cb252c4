"""The trail's retention, daily from beat: rows older than OPSPORTAL_AUDIT_RETENTION_DAYS go, the prune is recorded."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from opsportal.audit.services import audit_prune
from opsportal.workers.services import periodic_claim


@shared_task(name="audit.prune", ignore_result=True)
def audit_prune_task(period: float | None = None) -> dict:
    # Once a period whatever the number of beats (a deploy overlaps two): the run is claimed in the
    # database. Without ``period`` (an operator's run, a test) it just runs.
    if period is not None and not periodic_claim(
        name="audit.prune", period=timedelta(seconds=period), now=timezone.now()
    ):
        return {"state": "skipped", "why": "already run this period (another beat)"}
    event = audit_prune(days=settings.OPSPORTAL_AUDIT_RETENTION_DAYS)
    return {"pruned": event.changed if event else 0}
