"""``GET /queues``: worker queues from the broker, runner queues from the database, rates from accounting."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from opsportal.lib import accounting
from opsportal.lib.timefmt import iso_from_timestamp
from plannings.selectors import coverage_figures
from walletops.clients import broker
from walletops.errors import BrokerUnavailable

PORTAL_QUEUES = ["celery"]  # the portal's own tasks (the plannings jobs)
RUNNER_QUEUES = ["plannings_refresh"]


def queues_report(*, partial: bool) -> dict:
    """Every queue's depth and rates; with ``partial``, what can be served when the broker is down."""
    worker_queues = [
        *settings.WALLETOPS_WORKER_QUEUES,
        *[q for q in PORTAL_QUEUES if q not in settings.WALLETOPS_WORKER_QUEUES],
    ]
    missing = []
    try:
        depths = broker.queue_depths(worker_queues)
    except broker.BrokerDown as exc:
        if not partial:
            raise BrokerUnavailable(f"{exc}; ask with ?partial=true for the database-backed figures") from None
        depths, missing = {}, [*missing, "broker"]
    try:
        figures, errors = accounting.queue_figures(worker_queues + RUNNER_QUEUES)
    except accounting.AccountingUnavailable as exc:
        if not partial:
            raise BrokerUnavailable(f"job accounting cannot be read: {exc}") from None
        figures, errors, missing = {}, [], [*missing, "accounting"]
    runner_depth = coverage_figures(
        now=timezone.now(), max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    ).depth

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
        + [row("plannings_refresh", "runner", runner_depth)],
        "errors": [
            {
                "queue": e["queue"],
                "job_id": e["job_id"],
                "error": e["error"],
                "count": e["count"],
                "timestamp": iso_from_timestamp(e["timestamp"]),
            }
            for e in errors
        ],  # fmt: skip
    }
    if partial:
        report["missing"] = missing
    return report
