"""Writes to the audit trail. Every operator action calls ``audit_record`` once it knows its outcome.

Apps import this module (it sits below them, with ``opsportal.lib``); it imports no app.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.utils import timezone

from opsportal.audit.models import TARGETS_KEPT, AuditEvent
from opsportal.lib.actors import Actor  # noqa: F401  (who acts: the callers' import, kept here)

Via = AuditEvent.Via
Outcome = AuditEvent.Outcome
# A refused action is recorded, but a user or token refused again and again must not grow the trail
# without bound: past this many refusals of one action by one actor within a minute, no further row.
REFUSALS_KEPT_PER_MINUTE = 20


def audit_record(
    *,
    actor: Actor,
    action: str,
    outcome: str = Outcome.OK,
    target_type: str = "",
    targets: Iterable[str] = (),
    changed: int | None = None,
    detail: str = "",
    now=None,
) -> AuditEvent:
    """Add one row to the trail. Call it inside the action's transaction when it has one, so an
    action and its record commit (or roll back) together."""
    ids = [str(target) for target in targets]
    return AuditEvent.objects.create(
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
    )


def audit_refusal_record(
    *, actor: Actor, action: str, target_type: str = "", targets: Iterable[str] = (), detail: str = "", now=None
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
        now=now,
    )
