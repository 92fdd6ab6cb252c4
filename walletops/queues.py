"""``GET /queues``: worker queues from the broker, rates from accounting; runner queues' depths are given.

Runner queues (a database table a job works through, e.g. plannings' refresh queue) belong to other
apps: the project (``opsportal.queues``) asks them and passes their depths in, with the Celery app
whose broker to ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from opsportal.lib import accounting
from opsportal.lib.timefmt import iso_from_timestamp
from walletops.clients import broker
from walletops.exceptions import BrokerUnavailable

if TYPE_CHECKING:
    from celery import Celery

PORTAL_QUEUES = ["celery"]  # the portal's own tasks (the plannings jobs)


def queues_report(*, partial: bool, broker_app: Celery, runner_depths: dict[str, int]) -> dict:
    """Every queue's depth and rates; with ``partial``, what can be served when the broker is down.

    ``broker_app`` is the Celery app whose broker holds the worker queues.
    """
    worker_queues = [
        *settings.WALLETOPS_WORKER_QUEUES,
        *[q for q in PORTAL_QUEUES if q not in settings.WALLETOPS_WORKER_QUEUES],
    ]
    missing = []
    try:
        depths = broker.queue_depths(broker_app, worker_queues)
    except broker.BrokerDown as exc:
        if not partial:
            raise BrokerUnavailable(f"{exc}; ask with ?partial=true for the database-backed figures") from None
        depths, missing = {}, [*missing, "broker"]
    try:
        figures, errors = accounting.queue_figures(worker_queues + list(runner_depths))
    except accounting.AccountingUnavailable as exc:
        if not partial:
            raise BrokerUnavailable(f"job accounting cannot be read: {exc}") from None
        figures, errors, missing = {}, [], [*missing, "accounting"]
    if not accounting.accounting_enabled() and "accounting" not in missing:
        missing = [*missing, "accounting"]  # off (no Redis, e.g. make run): rates are null, and ?partial says why

    def row(name: str, kind: str, depth: int | None) -> dict:
        figure = figures.get(name)
        return {
            "name": name,
            "kind": kind,
            "depth": depth,
            "processed_per_sec": figure.processed_per_sec if figure else None,
            "failures_last_hour": figure.failures_last_hour if figure else None,
        }

    report = {
        "queues": [row(q, "worker", depths.get(q)) for q in worker_queues]
        + [row(name, "runner", depth) for name, depth in runner_depths.items()],
        "errors": [
            {
                "queue": e["queue"],
                "job_id": e["job_id"],
                "error": e["error"],
                "count": e["count"],
                "timestamp": iso_from_timestamp(e["timestamp"]),
            }
            for e in errors
        ],
    }
    if partial:
        report["missing"] = missing
    return report
