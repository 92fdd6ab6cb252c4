"""Writes to the audit trail. Every operator action calls ``audit_record`` once it knows its outcome.

Apps import this module (it sits below them, with ``opsportal.lib``); it imports no app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from opsportal.audit import chain
from opsportal.audit.models import TARGETS_KEPT, AuditEvent
from opsportal.lib.actors import Actor

Via = AuditEvent.Via
Outcome = AuditEvent.Outcome
# A refused action is recorded, but a user or token refused again and again must not grow the trail
# without bound: past this many refusals of one action by one actor within a minute, no further row.
REFUSALS_KEPT_PER_MINUTE = 20
# The PostgreSQL advisory lock that serialises appends to the chain (any fixed 64-bit number; "audit" in ASCII).
CHAIN_LOCK = 0x6175646974


def chain_lock() -> None:
    """Hold the chain's head until the transaction ends, so appends from every process form one line.

    PostgreSQL: a transaction-level advisory lock. SQLite has one writer at a time, and the portal opens
    its transactions ``IMMEDIATE``: the transaction holds the write lock already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def _next_id(head_id: int | None) -> int:
    # The id is part of the hashed content, so it is taken before the insert, under the chain's lock:
    # ids then grow in the chain's order (a rolled-back append leaves a gap, which the chain ignores).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [AuditEvent._meta.db_table])
            return cursor.fetchone()[0]
    return (head_id or 0) + 1


def _plain(changes: dict) -> dict:
    # As the JSON column will give it back (times as text...), so the hash computed now is the one read later.
    return json.loads(json.dumps(changes, cls=DjangoJSONEncoder))


def audit_append(**fields) -> AuditEvent:
    """Insert one row at the head of the chain: its id, the head's hash as ``prev_hash``, then its own hash."""
    with transaction.atomic():
        chain_lock()
        head = AuditEvent.objects.order_by("-id").values_list("id", "row_hash").first()
        event = AuditEvent(id=_next_id(head[0] if head else None), prev_hash=head[1] if head else "", **fields)
        event.row_hash = chain.row_hash({name: getattr(event, name) for name in chain.HASHED})
        event.save(force_insert=True)
    return event


def audit_record(
    *,
    actor: Actor,
    action: str,
    outcome: str = Outcome.OK,
    target_type: str = "",
    targets: Iterable[str] = (),
    changed: int | None = None,
    detail: str = "",
    changes: dict | None = None,
    now=None,
) -> AuditEvent:
    """Add one row to the trail. Call it inside the action's transaction when it has one, so an
    action and its record commit (or roll back) together. ``changes``: ``{"field": [before, after]}``,
    secrets already masked (``opsportal.audit.changes``)."""
    ids = [str(target) for target in targets]
    return audit_append(
        created_at=now or timezone.now(),
        actor=actor.name[:150],
        via=actor.via,
        token_name=actor.token_name[:100],
        action=action[:64],
        target_type=target_type[:32],
        targets=ids[:TARGETS_KEPT],
        target_count=len(ids),
        changed=changed,
        outcome=outcome,
        detail=detail,
        changes=_plain(changes or {}),
    )


def audit_refusal_record(
    *,
    actor: Actor,
    action: str,
    target_type: str = "",
    targets: Iterable[str] = (),
    detail: str = "",
    changes: dict | None = None,
    now=None,
) -> AuditEvent | None:
    """Record a refused action, unless this actor was refused this action too often this minute (then ``None``)."""
    now = now or timezone.now()
    recent = AuditEvent.objects.filter(
        actor=actor.name[:150],
        token_name=actor.token_name[:100],
        action=action[:64],
        outcome=Outcome.REFUSED,
        created_at__gte=now - timedelta(minutes=1),
    )
    if recent.count() >= REFUSALS_KEPT_PER_MINUTE:
        return None
    return audit_record(
        actor=actor,
        action=action,
        outcome=Outcome.REFUSED,
        target_type=target_type,
        targets=targets,
        detail=detail,
        changes=changes,
        now=now,
    )


def audit_prune(*, days: int, now=None) -> AuditEvent | None:
    """Remove the rows older than ``days`` (the oldest run of them, in chain order; never the newest) and record it.

    The prune is itself a row, appended after the removal, naming how many rows went, up to when, and the
    hash the oldest kept row points back to (its anchor), so ``audit_verify`` still holds afterwards. On
    PostgreSQL the table's trigger lets the DELETE through only inside this transaction, which says so with
    ``SET LOCAL opsportal.audit_prune``. ``None`` when no row was old enough.
    """
    now = now or timezone.now()
    before = now - timedelta(days=days)
    with transaction.atomic():
        chain_lock()
        head = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        kept = AuditEvent.objects.filter(created_at__gte=before).order_by("id").values_list("id", flat=True).first()
        # The newest row stays, however old: the chain goes on from it, and the prune's row links to it.
        first_kept = min(kept or head or 0, head or 0)
        if not AuditEvent.objects.filter(id__lt=first_kept, created_at__lt=before).exists():
            return None
        doomed = AuditEvent.objects.filter(id__lt=first_kept)
        anchor = AuditEvent.objects.filter(id=first_kept).values_list("prev_hash", flat=True).get()
        _prune_allowed(True)
        count, _ = doomed.delete()
        _prune_allowed(False)
        return audit_record(
            actor=Actor.cli("retention"),
            action=chain.PRUNE_ACTION,
            target_type="audit_event",
            targets=[str(first_kept)],
            changed=count,
            detail=chain.prune_detail(count=count, before=before, days=days, first_kept=first_kept, anchor=anchor),
            now=now,
        )


def _prune_allowed(on: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('opsportal.audit_prune', %s, true)", ["on" if on else "off"])
