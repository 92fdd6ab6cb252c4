"""Exact row counts of ``plannings`` and ``plannings_backup``, kept by triggers (PostgreSQL only).

The health endpoint reports both counts on every poll. Counting a million rows
costs ~150 ms; reading two maintained counters costs nothing. Statement-level
triggers with transition tables keep them exact for every writer of the database
(this portal, upstream PlanningSup, psql): inserts (including the inserted part of
an upsert), deletes (including cascades) and truncates. The counts are taken under
a SHARE lock so no write slips between the first count and the triggers.
SQLite deployments count with ``count(*)``.
"""

from django.db import migrations

COUNTED = ("plannings", "plannings_backup")

FORWARD = """
CREATE TABLE opsportal_row_counts (table_name text PRIMARY KEY, row_count bigint NOT NULL);

CREATE FUNCTION opsportal_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opsportal_row_counts SET row_count = row_count + (SELECT count(*) FROM inserted_rows)
    WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE FUNCTION opsportal_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opsportal_row_counts SET row_count = row_count - (SELECT count(*) FROM deleted_rows)
    WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;

CREATE FUNCTION opsportal_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE opsportal_row_counts SET row_count = 0 WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END $$;
"""

PER_TABLE = """
LOCK TABLE {table} IN SHARE MODE;
INSERT INTO opsportal_row_counts (table_name, row_count) SELECT '{table}', count(*) FROM {table};
CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION opsportal_count_inserted();
CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT EXECUTE FUNCTION opsportal_count_deleted();
CREATE TRIGGER {table}_count_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION opsportal_count_truncated();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS {table}_count_insert ON {table};
DROP TRIGGER IF EXISTS {table}_count_delete ON {table};
DROP TRIGGER IF EXISTS {table}_count_truncate ON {table};
"""


def create_counters(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FORWARD)
    for table in COUNTED:
        schema_editor.execute(PER_TABLE.format(table=table))


def drop_counters(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in COUNTED:
        schema_editor.execute(BACKWARD.format(table=table))
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS opsportal_count_inserted(), opsportal_count_deleted(), "
        "opsportal_count_truncated(); DROP TABLE IF EXISTS opsportal_row_counts;"
    )


class Migration(migrations.Migration):
    dependencies = [("plannings", "0004_refresh_polling")]

    operations = [migrations.RunPython(create_counters, drop_counters)]
