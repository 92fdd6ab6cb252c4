"""The health history: a snapshot of the health report each minute, pruned past a retention.

One small feature, so its write (record, prune) and its read (the dashboard's range,
1 h to 7 d) sit together here rather than in ``services.py`` and ``selectors.py``.
Every function takes ``now`` so tests move time instead of sleeping.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from plannings.health import health_report
from plannings.models import HealthSnapshot

HISTORY_WINDOW = timedelta(hours=24)
SNAPSHOT_EVERY = timedelta(minutes=1)
# One snapshot a minute: 24 h holds at most this many, and the read never returns more.
HISTORY_MAX_ROWS = 24 * 60
PRUNE_BATCH_SIZE = 1000
# 20 000 rows a run at most (two weeks of snapshots); a longer backlog goes on next minute.
PRUNE_MAX_BATCHES = 20


def snapshot_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


_FIGURES = ("queue_depth", "queue_ready", "queue_locked", "total", "covered", "disabled")
_RECORDED = ("taken_at", "status", "issues", *_FIGURES)


def _insert_ignoring_conflict_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(HealthSnapshot._meta.get_field(name).column) for name in _RECORDED)
    placeholders = ", ".join(["%s"] * len(_RECORDED))
    return (
        f"INSERT INTO {quote(HealthSnapshot._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({quote('taken_at')}) DO NOTHING RETURNING {quote('id')}"
    )


def health_snapshot_record(*, now: datetime) -> bool:
    """Record the health report of ``now``'s minute; False when that minute already has its row.

    Beat may run twice (a restart overlap, two hosts) and a tick may be delivered
    twice: ``ON CONFLICT DO NOTHING`` on the unique minute keeps the first row
    without an error or a read-then-write race, on PostgreSQL and SQLite alike.
    """
    report = health_report(now=now)
    values = {
        "taken_at": snapshot_minute(now),
        "status": report.status,
        "issues": list(report.issues),
        "queue_depth": report.queue.depth,
        "queue_ready": report.queue.ready,
        "queue_locked": report.queue.locked,
        "total": report.backups.total,
        "covered": report.backups.covered,
        "disabled": report.backups.disabled,
    }
    # Each field adapts its own value (SQLite keeps datetimes as text, PostgreSQL wants jsonb).
    params = [HealthSnapshot._meta.get_field(name).get_db_prep_save(values[name], connection) for name in _RECORDED]
    with connection.cursor() as cursor:
        cursor.execute(_insert_ignoring_conflict_sql(), params)
        return cursor.fetchone() is not None


def health_snapshots_prune(
    *,
    now: datetime,
    retention: timedelta,
    batch_size: int = PRUNE_BATCH_SIZE,
    max_batches: int = PRUNE_MAX_BATCHES,
) -> int:
    """Delete snapshots older than ``now - retention``, oldest first, ``batch_size`` rows per statement.

    Small statements keep each transaction and its locks short when a backlog
    built up (beat down for days, the retention lowered); the cap on batches keeps
    one run inside its time limit. Returns how many rows were deleted.
    """
    cutoff = now - retention
    pruned = 0
    for _ in range(max_batches):
        oldest = HealthSnapshot.objects.filter(taken_at__lt=cutoff).order_by("taken_at").values("pk")[:batch_size]
        deleted, _ = HealthSnapshot.objects.filter(pk__in=oldest).delete()
        pruned += deleted
        if deleted < batch_size:
            break
    return pruned


def health_history(*, now: datetime, window: timedelta = HISTORY_WINDOW) -> list[HealthSnapshot]:
    """The snapshots of the last ``window`` (24 h unless the dashboard's range says otherwise), oldest first.

    One statement. Newest first with a limit (one row a minute of the window), then
    reversed: should the table ever hold more than one row a minute, the cap drops the
    oldest rows, not the current ones. A window past the retention returns what is kept.
    """
    max_rows = HISTORY_MAX_ROWS if window == HISTORY_WINDOW else int(window / SNAPSHOT_EVERY)
    rows = HealthSnapshot.objects.filter(taken_at__gt=now - window, taken_at__lte=now).order_by("-taken_at")
    return list(rows[:max_rows])[::-1]
