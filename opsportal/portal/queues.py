"""The cross-app ``/queues`` report: wallet ops' worker queues with plannings' runner queue composed in.

The project's Celery app is given here: its broker holds the worker queues (the client knows only its server)."""

from __future__ import annotations

from django.utils import timezone

from opsportal.celery import app as celery_app
from plannings.selectors import runner_queue_depths
from walletops import queues as worker_queues


def queues_report(*, partial: bool) -> dict:
    return worker_queues.queues_report(
        partial=partial, broker_app=celery_app, runner_depths=runner_queue_depths(now=timezone.now())
    )
