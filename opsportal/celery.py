"""The Celery app. Broker and limits come from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import task_failure, task_success

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

app = Celery("opsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_success.connect
def _count_success(sender=None, **kwargs) -> None:
    from opsportal.lib.accounting import task_outcome_record

    task_outcome_record(queue=_queue_of(sender), ok=True, job_id=sender.request.id or "")


@task_failure.connect
def _count_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    from opsportal.lib.accounting import task_outcome_record

    task_outcome_record(
        queue=_queue_of(sender), ok=False, job_id=task_id or "", error=f"{type(exception).__name__}: {exception}"
    )


def _queue_of(task) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return delivery.get("routing_key") or delivery.get("exchange") or "celery"
