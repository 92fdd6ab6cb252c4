"""The trail is tamper-evident: each row hashes its content with the previous row's hash, ``audit_verify`` names
the first row edited, inserted or removed, PostgreSQL refuses UPDATE and DELETE but the retention's prune (which
records itself and keeps the chain verifiable), and appends from many connections at once stay one line."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from opsportal.audit import chain
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor, audit_prune, audit_record

pytestmark = pytest.mark.django_db


def _trail(count: int = 5, *, days_ago: int = 0) -> list[AuditEvent]:
    start = timezone.now() - timedelta(days=days_ago)
    return [
        audit_record(actor=Actor.cli("ops"), action="jobs.pause", targets=[f"t{i}"], detail=f"row {i}",
                     changes={"paused": [False, True]}, now=start + timedelta(seconds=i))
        for i in range(count)
    ]  # fmt: skip


def _verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def _broken() -> str:
    with pytest.raises(CommandError) as failed:
        _verify()
    return str(failed.value)


def _as_a_dba(sql: str, params=()) -> None:
    """What someone with the database's own rights can do: on PostgreSQL, with the table's trigger switched off
    (inside the test's transaction, rolled back after it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")


def test_each_row_carries_the_hash_of_its_content_and_of_the_row_before():
    rows = _trail(3)
    assert rows[0].prev_hash == "" and [row.prev_hash for row in rows[1:]] == [row.row_hash for row in rows[:2]]
    stored = AuditEvent.objects.filter(pk=rows[2].pk).values(*chain.HASHED).get()
    assert chain.row_hash(stored) == rows[2].row_hash and stored["changes"] == {"paused": [False, True]}
    assert _verify() == f"OK: 3 rows, chain intact; head row {rows[2].pk}, sha256 {rows[2].row_hash}\n"


def test_audit_verify_names_the_row_that_was_edited():
    rows = _trail()
    _as_a_dba("UPDATE audit_event SET detail = 'nothing happened' WHERE id = %s", [rows[2].pk])
    assert f"row {rows[2].pk} was edited" in _broken()


def test_audit_verify_names_a_row_edited_whose_hash_was_recomputed_through_the_next_link():
    rows = _trail()
    forged = {**AuditEvent.objects.filter(pk=rows[2].pk).values(*chain.HASHED).get(), "detail": "nothing happened"}
    _as_a_dba("UPDATE audit_event SET detail = %s, row_hash = %s WHERE id = %s",
              [forged["detail"], chain.row_hash(forged), rows[2].pk])  # fmt: skip
    assert f"row {rows[2].pk} was edited and its hash recomputed" in _broken()


def _forge_after(row: AuditEvent, *, id: int) -> dict:
    """A row with a well-formed hash that links to ``row``, written straight into the table."""
    forged = {**AuditEvent.objects.filter(pk=row.pk).values(*chain.HASHED).get(), "detail": "forged"}
    forged.update(id=id, prev_hash=row.row_hash)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_event (id, created_at, actor, via, token_name, action, target_type, targets, "
            "target_count, changed, outcome, detail, changes, prev_hash, row_hash) "
            "VALUES (%s, %s, 'ops', 'cli', '', 'jobs.pause', '', %s, 1, NULL, 'ok', 'forged', %s, %s, %s)",
            [id, forged["created_at"], '["t1"]', '{"paused": [false, true]}', forged["prev_hash"],
             chain.row_hash(forged)],
        )  # fmt: skip
    return forged


@pytest.mark.postgres_only
def test_audit_verify_names_the_row_that_was_inserted():
    rows = _trail(2)
    with pytest.raises(RuntimeError), transaction.atomic():  # an action that failed: its id is not reused
        audit_record(actor=Actor.cli("ops"), action="jobs.pause")
        raise RuntimeError
    rows += _trail(2)
    assert rows[2].pk == rows[1].pk + 2
    forged = _forge_after(rows[1], id=rows[1].pk + 1)  # in the gap, linked to the row before it
    assert f"row {forged['id']} was inserted: row {rows[2].pk} follows the row before it" in _broken()


def test_a_row_inserted_by_renumbering_the_rows_after_it_is_caught_as_an_edit():
    rows = _trail(4)
    _as_a_dba("UPDATE audit_event SET id = id + 100 WHERE id > %s", [rows[1].pk])  # room for one more
    _forge_after(rows[1], id=rows[1].pk + 1)
    assert f"row {rows[2].pk + 100} was edited" in _broken()


def test_audit_verify_names_where_rows_were_removed():
    rows = _trail()
    _as_a_dba("DELETE FROM audit_event WHERE id = %s", [rows[2].pk])
    assert f"rows were removed before row {rows[3].pk} (after row {rows[1].pk})" in _broken()
    _as_a_dba("DELETE FROM audit_event WHERE id <= %s", [rows[1].pk])
    assert f"rows were removed before row {rows[3].pk}, the oldest kept" in _broken()


def test_the_prune_removes_old_rows_records_itself_and_the_chain_still_verifies(settings):
    settings.OPSPORTAL_AUDIT_RETENTION_DAYS = 30
    old, recent = _trail(3, days_ago=40), _trail(2)
    out = StringIO()
    call_command("audit_prune", stdout=out)
    assert "3 rows created before" in out.getvalue() and f"starts at row {recent[0].pk}" in out.getvalue()
    assert not AuditEvent.objects.filter(pk__in=[row.pk for row in old]).exists()
    prune = AuditEvent.objects.order_by("-id").first()
    assert (prune.action, prune.changed, prune.via) == ("audit.prune", 3, "cli")
    assert chain.prune_anchor(prune.detail) == old[-1].row_hash == recent[0].prev_hash
    assert _verify().startswith("OK: 3 rows")
    # Rows removed beyond the prune's are still seen.
    _as_a_dba("DELETE FROM audit_event WHERE id = %s", [recent[0].pk])
    assert f"rows were removed before row {recent[1].pk}, the oldest kept" in _broken()


def test_the_newest_row_is_never_pruned_and_each_prune_anchors_again():
    _trail(2, days_ago=500)
    assert audit_prune(days=400).changed == 1  # the newest row stays, however old: the chain goes on from it
    assert audit_prune(days=400).changed == 1  # now the first prune's row is the newest
    assert audit_prune(days=400) is None  # nothing older: no row
    _trail(1)
    later = timezone.now() + timedelta(days=401)  # everything is old now
    assert audit_prune(days=400, now=later).changed == 2  # both prunes' rows
    assert _verify().startswith("OK: 2 rows")


@pytest.mark.postgres_only
@pytest.mark.parametrize("statement", ["UPDATE audit_event SET detail = 'x'", "DELETE FROM audit_event"])
def test_postgresql_refuses_updates_and_deletes_of_the_trail(statement):
    _trail(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 2
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_writers_on_many_connections_at_once_keep_one_chain():
    writers, each = 6, 15
    barrier = threading.Barrier(writers)
    failures = []

    def write(n: int) -> None:
        try:
            barrier.wait(timeout=60)
            for i in range(each):
                with transaction.atomic():  # as an action does: its own write, then the record, one transaction
                    audit_record(actor=Actor.cli(f"writer-{n}"), action="jobs.pause", targets=[f"{n}-{i}"])
        except Exception as exc:  # noqa: BLE001 (reported to the test below)
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and not any(thread.is_alive() for thread in threads)
    assert _verify().startswith(f"OK: {writers * each} rows")
    hashes = list(AuditEvent.objects.order_by("id").values_list("prev_hash", "row_hash"))
    assert len({prev for prev, _ in hashes}) == len(hashes)  # no two rows claim the same predecessor


def test_the_retention_runs_daily_from_beat_with_the_configured_days(settings):
    from opsportal.audit.tasks import audit_prune_task
    from opsportal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["audit-prune"]
    assert (entry["task"], entry["schedule"]) == ("audit.prune", 86400.0)
    app.loader.import_default_modules()
    assert "audit.prune" in app.tasks
    settings.OPSPORTAL_AUDIT_RETENTION_DAYS = 10
    _trail(3, days_ago=20)
    _trail(1)
    assert audit_prune_task() == {"pruned": 3} and _verify().startswith("OK: 2 rows")
