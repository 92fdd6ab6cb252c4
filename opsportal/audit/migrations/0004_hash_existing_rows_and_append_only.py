"""Chain the rows written before the chain existed (in id order, in chunks), then, on PostgreSQL, make the
table append-only: a trigger refuses UPDATE and DELETE unless the transaction set ``opsportal.audit_prune``
to ``on`` (only ``audit_prune`` does, for the retention; it records itself).

It runs after wallet ops copied its restart ledger's old rows into the trail, so those are chained too.
"""

from django.db import migrations

from opsportal.audit import chain

CHUNK = 1000

TRIGGER = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('opsportal.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused (only audit_prune may delete)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""
UNTRIGGER = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""


def rows_hash(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    previous, last = "", 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last).order_by("id")[:CHUNK])
        if not rows:
            return
        for row in rows:
            row.prev_hash = previous
            row.row_hash = chain.row_hash({name: getattr(row, name) for name in chain.HASHED})
            previous = row.row_hash
        AuditEvent.objects.bulk_update(rows, ["prev_hash", "row_hash"])
        last = rows[-1].id


def trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER, params=None)


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNTRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_changes_and_hash_chain"),
        ("walletops", "0006_restart_ledger"),
    ]

    operations = [
        migrations.RunPython(rows_hash, migrations.RunPython.noop),
        migrations.RunPython(trigger_create, trigger_drop),
    ]
