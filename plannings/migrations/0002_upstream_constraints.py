"""Shape a PostgreSQL schema like upstream's: its foreign keys, and no extra indexes.

Upstream's foreign keys are named by drizzle and cascade in the database (Django
5.2 only cascades in Python). Django also adds ``*_like`` pattern indexes to
character primary keys, which upstream does not have: they are dropped. This
runs after 0001 (whose indexes Django creates at the end of that migration) and
is idempotent, so an adopted upstream database passes through unchanged.
"""

from django.db import migrations

MIRRORED_TABLES = (
    "plannings",
    "plannings_backup",
    "plannings_refresh_queue",
    "plannings_refresh_state",
)
CHILD_TABLES = MIRRORED_TABLES[1:]


def shape_like_upstream(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexname LIKE %s",
            [list(MIRRORED_TABLES), "%\\_like"],
        )
        for (index_name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX "{index_name}"')
        cursor.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'")
        existing = {name for (name,) in cursor.fetchall()}
        for table in CHILD_TABLES:
            if f"{table}_planning_full_id_plannings_full_id_fk" in existing:
                continue  # an adopted upstream database has it already
            schema_editor.execute(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_planning_full_id_plannings_full_id_fk" '
                'FOREIGN KEY ("planning_full_id") REFERENCES "plannings"("full_id") '
                "ON DELETE CASCADE ON UPDATE NO ACTION"
            )


class Migration(migrations.Migration):
    dependencies = [("plannings", "0001_initial")]

    operations = [migrations.RunPython(shape_like_upstream, migrations.RunPython.noop)]
