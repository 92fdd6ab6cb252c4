"""Reads of the audit trail: the tools' API (``GET /api/v1/admin/ops/audit``) and the chain's check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from opsportal.audit import chain
from opsportal.audit.models import AuditEvent


def audit_events_matching(
    *,
    before: int | None = None,
    after: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str = "",
    actor: str = "",
    via: str = "",
    outcome: str = "",
    target: str = "",
) -> QuerySet[AuditEvent]:
    """The events matching every filter given, unordered (the API's cursor paging orders them).

    ``before``/``after``: ids below/above; ``action`` a name or a prefix ending in a dot (``jobs.``); ``target``
    an object's exact id among the row's targets (a container's name: its restart history).
    """
    rows: QuerySet[AuditEvent] = AuditEvent.objects.all()
    if before is not None:
        rows = rows.filter(id__lt=before)
    if after is not None:
        rows = rows.filter(id__gt=after)
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
    if target:
        rows = rows.filter(naming(target))
    return rows


EXPORT_CHUNK = 1000


def audit_events_export(*, after: int | None = None, **filters) -> Iterator[AuditEvent]:
    """Every event matching the filters, oldest first (the chain's order), read a chunk at a time by id: an
    export of millions of rows holds one chunk in memory, and a client resumes it with ``after``."""
    last = after
    while True:
        chunk = list(audit_events_matching(after=last, **filters).order_by("id")[:EXPORT_CHUNK])
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        last = chunk[-1].id


def naming(target: str) -> Q:
    """Rows whose targets hold this exact id: JSON containment on PostgreSQL; SQLite has none, so there the
    list's text is searched for the quoted id (ids hold no quotes)."""
    if connection.vendor == "postgresql":
        return Q(targets__contains=[target])
    return Q(targets__icontains=f'"{target}"')


def audit_events_on(*, target_type: str, target: str, actions: tuple[str, ...], limit: int) -> list[AuditEvent]:
    """The newest rows of these actions on one object (a container's restarts and health checks), newest first."""
    rows = AuditEvent.objects.filter(action__in=actions, target_type=target_type).filter(naming(target))
    return list(rows.order_by("-id")[:limit])


@dataclass(frozen=True)
class ChainReport:
    """What ``audit_verify`` found: ``problem`` empty when the chain holds, else the first break, by row id."""

    rows: int
    head_id: int | None
    head_hash: str
    problem: str = ""
    row_id: int | None = None


VERIFY_CHUNK = 2000


def _rows_in_chain_order():
    """Every row's hashed fields, oldest first, read in chunks by id (the trail may hold millions)."""
    last = 0
    while True:
        chunk = list(
            AuditEvent.objects.filter(id__gt=last).order_by("id").values(*chain.HASHED, "row_hash")[:VERIFY_CHUNK]
        )
        if not chunk:
            return
        yield from chunk
        last = chunk[-1]["id"]


def _anchor() -> str:
    """The hash the oldest kept row must point back to: empty (nothing was ever pruned) or the last prune's anchor."""
    prune = AuditEvent.objects.filter(action=chain.PRUNE_ACTION).order_by("-id").values_list("detail", flat=True)
    detail = prune.first()
    return (chain.prune_anchor(detail) or "") if detail else ""


def audit_chain_verify() -> ChainReport:
    """Walk the chain from its oldest row; name the first row edited, inserted, or the place rows were removed.

    A row whose content no longer gives its ``row_hash`` was edited. A row whose ``prev_hash`` is not the hash
    of the row before it follows a gap: if it names the row before that one, the row between was inserted;
    otherwise rows were removed there (or the row before was edited and its hash recomputed).
    """
    anchor = _anchor()
    count, before, previous = 0, None, None  # the two rows before the current one
    for row in _rows_in_chain_order():
        count += 1
        if chain.row_hash(row) != row["row_hash"]:
            return ChainReport(count, row["id"], row["row_hash"], f"row {row['id']} was edited: its content does not "
                               "give its row_hash", row["id"])  # fmt: skip
        expected = previous["row_hash"] if previous else anchor
        if row["prev_hash"] != expected:
            if previous is None:
                problem = (f"rows were removed before row {row['id']}, the oldest kept: its prev_hash is not "
                           + ("the anchor of the last prune" if anchor else "empty (no prune recorded)"))  # fmt: skip
                return ChainReport(count, row["id"], row["row_hash"], problem, row["id"])
            if row["prev_hash"] == (before["row_hash"] if before else anchor):
                return ChainReport(count, previous["id"], previous["row_hash"], f"row {previous['id']} was inserted: "
                                   f"row {row['id']} follows the row before it", previous["id"])  # fmt: skip
            problem = (f"rows were removed before row {row['id']} (after row {previous['id']}), or row "
                       f"{previous['id']} was edited and its hash recomputed: row {row['id']}'s prev_hash names "
                       "neither")  # fmt: skip
            return ChainReport(count, row["id"], row["row_hash"], problem, row["id"])
        before, previous = previous, row
    return ChainReport(count, previous["id"] if previous else None, previous["row_hash"] if previous else "")
