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

# Upstream's patterns, each with its literal start so most descriptions skip the regex.
_DESCRIPTION_NOISE = [
    ("(Exporté", re.compile(r"\(Exporté.*\)")),
    ("(Exported :", re.compile(r"\(Exported :.*\)")),
    ("(Updated :", re.compile(r"\(Updated :.*\)")),
    ("(Modifié le:", re.compile(r"\(Modifié le:.*\)")),
]
EVENT_KEYS = ("uid", "summary", "startDate", "endDate", "location", "description")


@dataclass(frozen=True)
class BackupWrite:
    planning_full_id: str
    changed: bool
    nb_events: int


def _clean_description(description: str) -> str:
    # Upstream replaces the first match of each pattern (JavaScript's String.replace).
    if "(" in description:
        for marker, pattern in _DESCRIPTION_NOISE:
            if marker in description:
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


# A normalised event's keys in jsonb order (length, then bytes): formatted directly,
# this is ~10x faster than the generic walk above, which stays for anything else.
_JSONB_EVENT_KEYS = ("uid", "endDate", "summary", "location", "startDate", "description")
_JSONB_EVENT = '{"uid": %s, "endDate": %s, "summary": %s, "location": %s, "startDate": %s, "description": %s}'
_json_string = json.encoder.encode_basestring  # json.dumps(s, ensure_ascii=False), without its overhead


def _event_jsonb_text(event: dict) -> str:
    if len(event) == 6:
        try:
            return _JSONB_EVENT % (
                _json_string(event["uid"]), _json_string(event["endDate"]), _json_string(event["summary"]),
                _json_string(event["location"]), _json_string(event["startDate"]), _json_string(event["description"]),
            )  # fmt: skip
        except (KeyError, TypeError):  # other keys, or a value that is not a string
            pass
    return _jsonb_text(event)


def events_jsonb_text(events: list[dict]) -> str:
    """``events::jsonb::text``; also valid JSON, so it doubles as the payload sent to the database."""
    return "[" + ", ".join(map(_event_jsonb_text, events)) + "]"


def text_signature(text: str) -> str:
    """The backup's signature: the md5 of its ``jsonb::text`` (the one signature function)."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def events_signature(events: list[dict]) -> str:
    return text_signature(events_jsonb_text(events))


def _upsert_sql(rows: int) -> str:
    table = PlanningBackup._meta.db_table
    events_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    values = ", ".join([f"(%s, {events_param}, %s, %s)"] * rows)
    return (
        f'INSERT INTO "{table}" (planning_full_id, events, signature, updated_at) VALUES {values} '
        "ON CONFLICT (planning_full_id) DO UPDATE SET events = excluded.events, "
        "signature = excluded.signature, updated_at = excluded.updated_at "
        f'WHERE "{table}".signature IS DISTINCT FROM excluded.signature '
        "RETURNING planning_full_id"
    )


@dataclass(frozen=True)
class PreparedBackup:
    """A backup ready to write: the normalised events as jsonb text, their signature and count."""

    text: str
    signature: str
    nb_events: int


def backup_prepare(events: list[dict]) -> PreparedBackup:
    """The CPU half of a backup write (no database): workers do it while other feeds download."""
    normalised = events_normalise(events)
    text = events_jsonb_text(normalised)
    return PreparedBackup(text=text, signature=text_signature(text), nb_events=len(normalised))


def backups_write_many(*, writes: list[tuple[str, PreparedBackup]], now: datetime) -> list[BackupWrite]:
    """Insert each backup, or update it only when its signature changed; record the last write.

    One statement writes all the backups, so a crash leaves each either old or new,
    never a mix. ``writes`` are ``(planning_full_id, prepared backup)`` of distinct plannings.
    """
    if not writes:
        return []
    params, counts = [], []
    for planning_full_id, prepared in writes:
        params += [planning_full_id, prepared.text, prepared.signature, connection.ops.adapt_datetimefield_value(now)]
        counts.append(prepared.nb_events)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_upsert_sql(len(writes)), params)
        changed = {row[0] for row in cursor.fetchall()}
        results = [
            BackupWrite(planning_full_id=full_id, changed=full_id in changed, nb_events=count)
            for (full_id, _), count in zip(writes, counts, strict=True)
        ]
        last = results[-1]
        jobs_shared_state_update(
            last_write_planning_full_id=last.planning_full_id,
            last_write_changed=last.changed,
            last_write_nb_events=last.nb_events,
            last_write_at=now,
        )
    return results


def backup_write(*, planning_full_id: str, events: list[dict], now: datetime) -> BackupWrite:
    """One planning's backup, prepared and written at once (the worker prepares many while others download,
    then writes them with ``backups_write_many``)."""
    return backups_write_many(writes=[(planning_full_id, backup_prepare(events))], now=now)[0]
