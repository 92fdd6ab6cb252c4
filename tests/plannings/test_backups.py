"""Backup writes (plannings spec §5): normalisation, a signature PostgreSQL agrees with, changed/unchanged."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from plannings.backups import backup_prepare, backup_write, backups_write_many, events_normalise, events_signature
from plannings.models import PlanningBackup
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _event(
    uid="u1",
    summary="Cours",
    start="2026-03-10T08:00:00.000Z",
    end="2026-03-10T09:30:00.000Z",
    location="A1",
    description="",
) -> dict:
    return {
        "uid": uid,
        "summary": summary,
        "startDate": start,
        "endDate": end,
        "location": location,
        "description": description,
    }


TRICKY = [
    _event(summary='Quote " and backslash \\ and slash /', description="tab\there\nnew line\r\x01\x1f\x7f"),
    _event(uid="u2", summary="Accents éèà ÇŒ, 中文, emoji 🎓", location="Bât. « B »\u2028"),
    _event(uid="u3", summary="", location="", description="(Exporté le:01/09/2026 08:00) kept text"),
]


@pytest.mark.postgres_only
@pytest.mark.parametrize("events", [[], [_event()], TRICKY], ids=["empty", "plain", "tricky"])
def test_the_signature_equals_postgresqls_md5_of_jsonb_text(events):
    normalised = events_normalise(events)
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5(%s::jsonb::text), %s::jsonb::text", [json.dumps(normalised)] * 2)
        md5, text = cursor.fetchone()
    assert events_signature(normalised) == md5, text


@pytest.mark.postgres_only
def test_a_backup_written_by_upstream_is_not_rewritten():
    planning = factories.planning_make("s.a")
    events = events_normalise(TRICKY)
    with connection.cursor() as cursor:  # upstream's own statement
        cursor.execute(
            "INSERT INTO plannings_backup (planning_full_id, events, signature) "
            "VALUES (%s, %s::jsonb, md5(%s::jsonb::text))",
            [planning.pk, json.dumps(events), json.dumps(events)],
        )
    written = backup_write(planning_full_id="s.a", events=TRICKY, now=NOW)
    assert written.changed is False


def test_descriptions_lose_export_stamps_and_events_are_sorted():
    events = [
        _event(uid="b", start="2026-03-11T08:00:00.000Z", description="Groupe 1\n(Exported :10/03/2026 07:00)"),
        _event(uid="a", start="2026-03-10T08:00:00.000Z", description=" (Modifié le:09/03/2026) x "),
        _event(uid="c", start="2026-03-10T08:00:00.000Z", summary="A", description="(Updated :today)"),
        _event(uid="d", start="2026-03-10T08:00:00.000Z", description="(Exporté le:01/09/2026 08:00)"),
    ]
    normalised = events_normalise(events)
    assert [e["uid"] for e in normalised] == ["c", "a", "d", "b"]  # start, end, summary, location, uid
    assert [e["description"] for e in normalised] == ["", "x", "", "Groupe 1"]


def test_extra_fields_are_dropped():
    event = {**_event(), "color": "red"}
    assert set(events_normalise([event])[0]) == {"uid", "summary", "startDate", "endDate", "location", "description"}


def test_many_backups_are_written_by_one_call_each_saying_whether_it_changed():
    factories.planning_make("s.a")
    factories.planning_make("s.b")
    backup_write(planning_full_id="s.a", events=[_event()], now=NOW)
    written = backups_write_many(
        writes=[("s.a", backup_prepare([_event()])), ("s.b", backup_prepare([_event(), _event(uid="u2")]))],
        now=NOW + timedelta(hours=1),
    )
    assert [(w.planning_full_id, w.changed, w.nb_events) for w in written] == [("s.a", False, 1), ("s.b", True, 2)]


def test_a_write_inserts_then_updates_only_when_the_signature_changes():
    factories.planning_make("s.a")
    first = backup_write(planning_full_id="s.a", events=[_event()], now=NOW)
    assert (first.changed, first.nb_events) == (True, 1)
    again = backup_write(planning_full_id="s.a", events=[_event()], now=NOW + timedelta(hours=1))
    assert again.changed is False
    assert PlanningBackup.objects.get().updated_at == NOW
    changed = backup_write(planning_full_id="s.a", events=[_event(), _event(uid="u2")], now=NOW + timedelta(hours=2))
    assert (changed.changed, changed.nb_events) == (True, 2)
    backup = PlanningBackup.objects.get()
    assert backup.updated_at == NOW + timedelta(hours=2)
    assert backup.signature == events_signature(events_normalise([_event(), _event(uid="u2")]))
    assert len(backup.events) == 2
