"""Backup writes (plannings spec §5): normalise events, sign them as PostgreSQL would, upsert.

The signature is the md5 of the events exactly as PostgreSQL prints them as
``jsonb::text``, computed here in Python. A backup written by upstream and one
written by the portal therefore agree, and adopting a database rewrites nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from plannings.models import PlanningBackup
from plannings.runtime import jobs_shared_state_update

_DESCRIPTION_NOISE = [
    re.compile(r"\(Exporté.*\)"),
    re.compile(r"\(Exported :.*\)"),
    re.compile(r"\(Updated :.*\)"),
    re.compile(r"\(Modifié le:.*\)"),
]
EVENT_KEYS = ("uid", "summary", "startDate", "endDate", "location", "description")


@dataclass(frozen=True)
class BackupWrite:
    planning_full_id: str
    changed: bool
    nb_events: int


def _clean_description(description: str) -> str:
    # Upstream replaces the first match of each pattern (JavaScript's String.replace).
    for pattern in _DESCRIPTION_NOISE:
        description = pattern.sub("", description, count=1)
    return description.strip()


def events_normalise(events: list[dict]) -> list[dict]:
    """Only the six fields, cleaned descriptions, in a stable order (start, end, summary, location, uid)."""
    cleaned = [
        {
            "uid": event["uid"],
            "summary": event["summary"],
            "startDate": event["startDate"],
            "endDate": event["endDate"],
            "location": event["location"],
            "description": _clean_description(event["description"]),
        }
        for event in events
    ]
    # ISO-8601 UTC strings of one format sort in time order.
    cleaned.sort(key=lambda e: (e["startDate"], e["endDate"], e["summary"], e["location"], e["uid"]))
    return cleaned


def _jsonb_text(value) -> str:
    """``value::jsonb::text`` as PostgreSQL prints it: keys by length then bytes, ", " and ": "."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode("utf-8")), k.encode("utf-8")))
        return "{" + ", ".join(f"{_jsonb_text(k)}: {_jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def events_signature(events: list[dict]) -> str:
    return hashlib.md5(_jsonb_text(events).encode("utf-8"), usedforsecurity=False).hexdigest()


def _upsert_sql() -> str:
    table = PlanningBackup._meta.db_table
    events_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    return (
        f'INSERT INTO "{table}" (planning_full_id, events, signature, updated_at) '
        f"VALUES (%s, {events_param}, %s, %s) "
        "ON CONFLICT (planning_full_id) DO UPDATE SET events = excluded.events, "
        "signature = excluded.signature, updated_at = excluded.updated_at "
        f'WHERE "{table}".signature IS DISTINCT FROM excluded.signature '
        "RETURNING planning_full_id"
    )


def backup_write(*, planning_full_id: str, events: list[dict], now: datetime) -> BackupWrite:
    """Insert the backup, or update it only when its signature changed; record the write.

    One statement writes the backup, so a crash leaves either the old backup or
    the new one, never a mix.
    """
    normalised = events_normalise(events)
    signature = events_signature(normalised)
    payload = json.dumps(normalised, ensure_ascii=False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _upsert_sql(),
            [planning_full_id, payload, signature, connection.ops.adapt_datetimefield_value(now)],
        )
        changed = cursor.fetchone() is not None
        jobs_shared_state_update(
            last_write_planning_full_id=planning_full_id,
            last_write_changed=changed,
            last_write_nb_events=len(normalised),
            last_write_at=now,
        )
    return BackupWrite(planning_full_id=planning_full_id, changed=changed, nb_events=len(normalised))
