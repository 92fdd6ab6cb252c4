"""The plannings without a backup, kept on PostgreSQL: the list's "has backup: no" reads a page of them.

No index serves a negated filter: the page of plannings without a backup was read along the
plannings' key, passing over every backed-up planning sorted before the first one without (at
10,000,000 plannings of the bench's data, a fifth of the catalog: 7.4x the same page at 100,000).
The portal keeps their keys instead, with triggers exact for every writer (this portal, upstream, psql):

* ``opsportal_planning_no_backup``: the ``full_id`` of every planning that has no
  ``plannings_backup`` row; a page of them in full id order is a range of its key.

Statement-level triggers on ``plannings`` (insert, update, delete, truncate) and on
``plannings_backup`` insert, delete and truncate. A backup's key never changes in the refresh
worker's writes (its upsert sets events, signature and times): the one row-level trigger, on an
update *of* ``planning_full_id``, costs the worker nothing. ``opsportal_rebuild_side_tables()``
rebuilds this table too from here on.
"""

import importlib

from django.db import migrations

hosts = importlib.import_module("plannings.migrations.0013_planning_hosts")

TABLES = "CREATE TABLE opsportal_planning_no_backup (full_id varchar(255) PRIMARY KEY);"

# (trigger name, table, event, transition tables or None for a row trigger, the function's body)
_WITHOUT_BACKUP = "NOT EXISTS (SELECT 1 FROM plannings_backup AS b WHERE b.planning_full_id = {key})"
_PLANNING_EXISTS = "EXISTS (SELECT 1 FROM plannings AS p WHERE p.full_id = {key})"
TRIGGERS = [
    ("plannings_no_backup_insert", "plannings", "INSERT", "NEW TABLE AS new_rows", f"""
    INSERT INTO opsportal_planning_no_backup (full_id)
    SELECT n.full_id FROM new_rows AS n WHERE {_WITHOUT_BACKUP.format(key="n.full_id")} ORDER BY 1
    ON CONFLICT DO NOTHING;"""),
    ("plannings_no_backup_delete", "plannings", "DELETE", "OLD TABLE AS old_rows", """
    DELETE FROM opsportal_planning_no_backup WHERE full_id IN (SELECT full_id FROM old_rows);"""),
    # Only the rows whose key changed (an import rewrites titles and URLs far more often).
    ("plannings_no_backup_update", "plannings", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", f"""
    DELETE FROM opsportal_planning_no_backup WHERE full_id IN (
        SELECT full_id FROM old_rows EXCEPT SELECT full_id FROM new_rows);
    INSERT INTO opsportal_planning_no_backup (full_id)
    SELECT c.full_id FROM (SELECT full_id FROM new_rows EXCEPT SELECT full_id FROM old_rows) AS c
    WHERE {_WITHOUT_BACKUP.format(key="c.full_id")} ORDER BY 1 ON CONFLICT DO NOTHING;"""),
    ("plannings_no_backup_truncate", "plannings", "TRUNCATE", None, """
    TRUNCATE opsportal_planning_no_backup;"""),
    ("plannings_backup_no_backup_insert", "plannings_backup", "INSERT", "NEW TABLE AS new_rows", """
    DELETE FROM opsportal_planning_no_backup WHERE full_id IN (SELECT planning_full_id FROM new_rows);"""),
    # A cascade from a deleted planning finds the planning gone: nothing added (its own trigger removes it).
    ("plannings_backup_no_backup_delete", "plannings_backup", "DELETE", "OLD TABLE AS old_rows", f"""
    INSERT INTO opsportal_planning_no_backup (full_id)
    SELECT o.planning_full_id FROM old_rows AS o
    WHERE {_PLANNING_EXISTS.format(key="o.planning_full_id")} AND {_WITHOUT_BACKUP.format(key="o.planning_full_id")}
    ORDER BY 1 ON CONFLICT DO NOTHING;"""),
    ("plannings_backup_no_backup_truncate", "plannings_backup", "TRUNCATE", None, """
    INSERT INTO opsportal_planning_no_backup (full_id) SELECT full_id FROM plannings ORDER BY 1 ON CONFLICT DO NOTHING;"""),
]  # fmt: skip
# A row trigger, for a backup moved to another planning's key (never the worker's writes).
MOVED = f"""
CREATE FUNCTION opsportal_no_backup_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM opsportal_planning_no_backup WHERE full_id = NEW.planning_full_id;
    INSERT INTO opsportal_planning_no_backup (full_id)
    SELECT OLD.planning_full_id
    WHERE {_PLANNING_EXISTS.format(key="OLD.planning_full_id")} AND {_WITHOUT_BACKUP.format(key="OLD.planning_full_id")}
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER plannings_backup_no_backup_moved AFTER UPDATE OF planning_full_id ON plannings_backup
FOR EACH ROW WHEN (OLD.planning_full_id IS DISTINCT FROM NEW.planning_full_id)
EXECUTE FUNCTION opsportal_no_backup_moved();
"""
REBUILT_ROWS = f"""
    INSERT INTO opsportal_planning_no_backup (full_id)
    SELECT p.full_id FROM plannings AS p WHERE {_WITHOUT_BACKUP.format(key="p.full_id")} ORDER BY 1;"""


def forward_sql() -> list[str]:
    statements = [TABLES, "LOCK TABLE plannings, plannings_backup IN SHARE MODE;"]
    for name, table, event, referencing, body in TRIGGERS:
        statements.append(
            f"CREATE FUNCTION opsportal_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN{body}\n"
            "    RETURN NULL;\nEND $$;\n"
            f"CREATE TRIGGER {name} AFTER {event} ON {table}"
            + (f" REFERENCING {referencing}" if referencing else "")
            + f" FOR EACH STATEMENT EXECUTE FUNCTION opsportal_{name}();"
        )
    statements.append(MOVED)
    statements.append(REBUILT_ROWS)  # the rows already there (under the SHARE lock taken above)
    return statements


def backward_sql() -> list[str]:
    statements = [
        "DROP TRIGGER IF EXISTS plannings_backup_no_backup_moved ON plannings_backup;",
        "DROP FUNCTION IF EXISTS opsportal_no_backup_moved();",
    ]
    for name, table, _event, _referencing, _body in TRIGGERS:
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table};")
        statements.append(f"DROP FUNCTION IF EXISTS opsportal_{name}();")
    return [*statements, "DROP TABLE IF EXISTS opsportal_planning_no_backup;"]


# 0013's rebuild, and this table's rows recomputed in the same transaction (under the same SHARE lock).
REBUILD_WITH_NO_BACKUP = hosts.REBUILD_WITH_HOSTS.replace(
    "END $$;", f"\n    DELETE FROM opsportal_planning_no_backup;{REBUILT_ROWS}\nEND $$;", 1
)


def create_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in forward_sql():
        schema_editor.execute(statement)
    schema_editor.execute(REBUILD_WITH_NO_BACKUP)


def drop_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(hosts.REBUILD_WITH_HOSTS)
    for statement in backward_sql():
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("plannings", "0013_planning_hosts")]

    operations = [migrations.RunPython(create_table, drop_table)]
