"""Reads of the audit trail, for the tools' API (``GET /api/v1/admin/ops/audit``)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from opsportal.audit.models import AuditEvent


def audit_events_list(
    *,
    limit: int,
    before: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str = "",
    actor: str = "",
    via: str = "",
    outcome: str = "",
) -> list[AuditEvent]:
    """The newest ``limit`` events matching every filter given, newest first (by id: the order they were written).

    ``before`` is the cursor: only events with a smaller id, so the next page starts where the last one ended
    even while new events arrive. ``action`` matches a name or a prefix ending in a dot (``jobs.``).
    """
    rows: QuerySet[AuditEvent] = AuditEvent.objects.all()
    if before is not None:
        rows = rows.filter(id__lt=before)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    if action:
        rows = rows.filter(action__startswith=action) if action.endswith(".") else rows.filter(action=action)
    if actor:
        rows = rows.filter(actor=actor)
    if via:
        rows = rows.filter(via=via)
    if outcome:
        rows = rows.filter(outcome=outcome)
    return list(rows.order_by("-id")[:limit])
