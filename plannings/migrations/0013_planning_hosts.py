"""A trigger-kept (host, full id) table for the plannings list's host filter (PostgreSQL only).

The list's host filter offered ``SELECT DISTINCT planning_id FROM plannings`` on every
page view (a scan of the catalog: 155 ms at 1,000,000 plannings), and its page read
the plannings in full-id order until it met the host's, all the catalog's for the
last host. Upstream's tables must keep upstream's indexes, so, as migrations 0010 and
0011 do, the portal keeps its own table instead, with statement-level triggers exact
for every writer (this portal, upstream, psql):

* ``opsportal_planning_host``: every planning's (``planning_id``, ``full_id``), its key
  in that order. The choices are read as a skip scan of that key (one probe per host);
  a host's plannings in full-id order are a range of it.

The catalog's rows change only when a catalog is imported, so the triggers cost the
import, never the refresh worker. SQLite deployments read the plannings directly.
``opsportal_rebuild_side_tables()`` (0012) rebuilds this table too from here on.
"""

import importlib

from django.db import migrations

rebuild = importlib.import_module("plannings.migrations.0012_rebuild_side_tables")

TABLES = """
CREATE TABLE opsportal_planning_host (
    planning_id varchar(255) NOT NULL, full_id varchar(255) NOT NULL, PRIMARY KEY (planning_id, full_id));
"""

APPLY = {
    "INSERT": """
    INSERT INTO opsportal_planning_host (planning_id, full_id) SELECT planning_id, full_id FROM new_rows
    ORDER BY 1, 2;""",
    "DELETE": """
    DELETE FROM opsportal_planning_host WHERE (planning_id, full_id) IN (SELECT planning_id, full_id FROM old_rows);""",
    # Only the rows whose host or id changed (an import rewrites titles and URLs far more often).
    "UPDATE": """
    DELETE FROM opsportal_planning_host WHERE (planning_id, full_id) IN (
        SELECT planning_id, full_id FROM old_rows EXCEPT SELECT planning_id, full_id FROM new_rows);
    INSERT INTO opsportal_planning_host (planning_id, full_id)
    SELECT planning_id, full_id FROM new_rows EXCEPT SELECT planning_id, full_id FROM old_rows ORDER BY 1, 2;""",
}
OPS = {
    "INSERT": ("insert", "NEW TABLE AS new_rows"),
    "UPDATE": ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "DELETE": ("delete", "OLD TABLE AS old_rows"),
}


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN{body}\n    RETURN NULL;\nEND $$;\n"


def forward_sql() -> list[str]:
    statements = [TABLES, "LOCK TABLE plannings IN SHARE MODE;"]
    for op, (suffix, referencing) in OPS.items():
        statements.append(_function(f"opsportal_planning_host_{suffix}", APPLY[op]))
        statements.append(
            f"CREATE TRIGGER plannings_host_{suffix} AFTER {op} ON plannings REFERENCING {referencing} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION opsportal_planning_host_{suffix}();"
        )
    statements.append(
        _function("opsportal_planning_host_truncate", "\n    TRUNCATE opsportal_planning_host;")
        + "CREATE TRIGGER plannings_host_truncate AFTER TRUNCATE ON plannings "
        "FOR EACH STATEMENT EXECUTE FUNCTION opsportal_planning_host_truncate();"
    )
    # The rows already there (under the SHARE lock taken above).
    statements.append(APPLY["INSERT"].replace("new_rows", "plannings"))
    return statements


BACKWARD = """
DROP TRIGGER IF EXISTS plannings_host_insert ON plannings;
DROP TRIGGER IF EXISTS plannings_host_update ON plannings;
DROP TRIGGER IF EXISTS plannings_host_delete ON plannings;
DROP TRIGGER IF EXISTS plannings_host_truncate ON plannings;
DROP FUNCTION IF EXISTS opsportal_planning_host_insert(), opsportal_planning_host_update(),
    opsportal_planning_host_delete(), opsportal_planning_host_truncate();
DROP TABLE IF EXISTS opsportal_planning_host;
"""


# 0012's rebuild, and this table's rows recomputed in the same transaction (under the same SHARE lock).
REBUILD_WITH_HOSTS = rebuild.REBUILD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    "END $$;",
    """
    DELETE FROM opsportal_planning_host;
    INSERT INTO opsportal_planning_host (planning_id, full_id) SELECT planning_id, full_id FROM plannings ORDER BY 1, 2;
END $$;""",
    1,
)


def create_host_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in forward_sql():
        schema_editor.execute(statement)
    schema_editor.execute(REBUILD_WITH_HOSTS)


def drop_host_table(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(rebuild.REBUILD.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("plannings", "0012_rebuild_side_tables")]

    operations = [migrations.RunPython(create_host_table, drop_host_table)]
