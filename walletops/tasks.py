"""Wallet ops' beat task: thin, it calls the deploys' reading. Time limits are the project's (settings)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from opsportal.workers.services import periodic_claim
from walletops.deploys import reading


@shared_task(name="walletops.deploys_read", ignore_result=True)
def deploys_read_task(period: float | None = None) -> dict:
    """Every minute: what the hosts appended to their Kamal audit files, so the timeline (and the drift rule's
    newest deploy) is fresh without a visitor. Once a period however many beats send it (a deploy overlaps two);
    without ``period`` (by hand, a test) it just runs."""
    if period is not None and not periodic_claim(
        name="walletops.deploys_read", period=timedelta(seconds=period), now=timezone.now()
    ):
        return {"state": "skipped", "why": "already run this period (another beat)"}
    reads = reading.audit_files_refresh()
    return {
        "files": sum(1 for read in reads if read.name and not read.error),
        "added": sum(read.added for read in reads),
        "restarted": sum(read.restarted for read in reads),
        "errors": [f"{read.host}: {read.error}" for read in reads if read.error],
    }
