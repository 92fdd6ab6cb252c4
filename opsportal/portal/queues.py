"""The cross-app ``/queues`` report: wallet ops' worker queues with plannings' runner queue composed in."""

from __future__ import annotations

from django.utils import timezone

from plannings.selectors import runner_queue_depths
from walletops import queues as worker_queues


def queues_report(*, partial: bool) -> dict:
    return worker_queues.queues_report(partial=partial, runner_depths=runner_queue_depths(now=timezone.now()))
