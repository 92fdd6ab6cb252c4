"""The alerts that fired and resolved, as entries of the deploy timeline (``walletops.deploys.timeline``).

Wallet ops may not import the alerts (they watch it), so the alerts add their source to its timeline when
the app is ready: the Deploys page and ``GET /api/v1/admin/ops/deploys`` show an alert's firing and its end
among the deploys around it, filtered by time and paged with the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q

from opsportal.alerts.models import Alert, Rule
from opsportal.alerts.observe import DRIFT_PREFIX, LOCK_PREFIX
from walletops.deploys.timeline import (
    Cursor,
    Filters,
    after_cursor,
    in_window,
    rows_chunked,
    timeline_source_register,
)

SOURCE = "alert"
# At one instant, below the portal's actions (rank 0); an end above its firing (the deploy rule's
# alerts fire and resolve at once).
RESOLVED_RANK, FIRED_RANK = -1, -2


def _alerts(filters: Filters, cursor: Cursor | None, size: int, *, rank: int, field: str) -> Iterator[tuple]:
    if filters.host or filters.role or filters.performer:
        return  # an alert names a target, not a Kamal host, role or performer: a narrowed timeline leaves it out
    rows = Alert.objects.select_related("rule").filter(
        in_window(filters, field), after_cursor(cursor, rank, field), fired_at__isnull=False,
    ).exclude(**{f"{field}__isnull": True})  # fmt: skip
    # The deploy lock and drift rules watch each destination: another destination's alerts are not this timeline's.
    rows = rows.exclude(Q(rule__kind=Rule.Kind.DEPLOY_LOCK) & ~Q(target=f"{LOCK_PREFIX}{filters.destination or '-'}"))
    rows = rows.exclude(Q(rule__kind=Rule.Kind.DRIFT) & ~Q(target__startswith=f"{DRIFT_PREFIX}{filters.destination}/"))
    if rank == RESOLVED_RANK:
        rows = rows.exclude(rule__kind=Rule.Kind.DEPLOY)  # a deploy's notice "resolves" as it fires: once is enough
    for alert in rows_chunked(rows.order_by(f"-{field}", "-id"), size):
        state = "fired" if rank == FIRED_RANK else alert.state  # resolved, or gone (no longer observed)
        yield (getattr(alert, field), rank, alert.id), {
            "at": getattr(alert, field), "source": SOURCE, "id": alert.id, "kind": f"alert.{state}",
            "subject": alert.rule.kind, "host": "", "role": "", "performer": "", "version": "",
            "text": f"{alert.rule.name}: {alert.target}", "detail": alert.message, "rule": alert.rule.name,
            "target": alert.target, "state": state,
        }  # fmt: skip


def _fired(filters: Filters, cursor: Cursor | None, size: int) -> Iterator[tuple]:
    yield from _alerts(filters, cursor, size, rank=FIRED_RANK, field="fired_at")


def _resolved(filters: Filters, cursor: Cursor | None, size: int) -> Iterator[tuple]:
    yield from _alerts(filters, cursor, size, rank=RESOLVED_RANK, field="resolved_at")


def timeline_sources_register() -> None:
    """Called from the app's ``ready``: alerts fired, and alerts resolved, as two sources of one name."""
    timeline_source_register(SOURCE, rank=FIRED_RANK, read=_fired)
    timeline_source_register(SOURCE, rank=RESOLVED_RANK, read=_resolved)
