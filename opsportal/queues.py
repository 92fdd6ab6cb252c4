"""The cross-app ``/queues`` report: wallet ops' worker queues with plannings' runner queues composed in.

Written once, for the portal's ``/queues`` and dashboard panel and for the alerts' queue rule: it sits
below both in the layers (``pyproject.toml``), above the two apps it composes. The project's Celery app
is given here: its broker holds the worker queues (the broker client knows only its server).
"""

from __future__ import annotations

from django.utils import timezone

from opsportal.celery import app as celery_app
from plannings.selectors import RunnerQueue, runner_queues
from walletops import queues as worker_queues


def queues_report(*, partial: bool, runners: dict[str, RunnerQueue] | None = None) -> dict:
    """Every queue's depth and rates. ``runners``: plannings' runner queues when the caller has read them
    already (the alerts also want their oldest ready row); else they are read now."""
    if runners is None:
        runners = runner_queues(now=timezone.now())
    return worker_queues.queues_report(
        partial=partial, broker_app=celery_app, runner_depths={name: queue.depth for name, queue in runners.items()}
    )
