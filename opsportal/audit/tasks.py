"""The trail's retention, daily from beat: rows older than OPSPORTAL_AUDIT_RETENTION_DAYS go, the prune is recorded."""

from celery import shared_task
from django.conf import settings

from opsportal.audit.services import audit_prune


@shared_task(name="audit.prune", ignore_result=True)
def audit_prune_task() -> int:
    event = audit_prune(days=settings.OPSPORTAL_AUDIT_RETENTION_DAYS)
    return event.changed if event else 0
