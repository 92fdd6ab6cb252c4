"""Trigger-kept side tables for the health figures that depend on the time (PostgreSQL only).

The totals are kept by migration 0005; the rest of the health report read every queued
or disabled row (135 + 102 + 118 ms at 1,000,000 plannings). The mirrored tables must
keep upstream's indexes exactly, so these portal-owned tables are kept instead, by
statement-level triggers with transition tables, exact for every writer (this portal,
upstream, psql), through inserts, updates, deletes, cascades and truncates:

* ``opsportal_queue_histogram``: queue rows counted by (minute, and again by second, of
  ``next_attempt_at``; attempts; exact ``locked_at``, '-infinity' for none). Claims lock a
  batch with one timestamp, so there are few distinct locks. A reader knows every past
  minute is due and every future one is not, then so for the current minute's seconds;
  only the current second's rows are read, through upstream's ``next_attempt_at`` index.
  (By minute alone, a bulk enqueue, all at one ``now()``, was read whole for a minute.)
* ``opsportal_disabled_histogram``: refresh states counted by (minute, and second, of
  ``disabled_until``; host; last failure kind). Later buckets are disabled, earlier are
  not; the current second is read through upstream's ``disabled_until`` index.
* ``opsportal_disabled_state``: the states that have a ``disabled_until``, with their
  ``updated_at``, indexed newest first, for the five latest failures.

Zero-count histogram rows are deleted, so the histograms hold only the minutes that
rows are in. SQLite deployments count as before (``plannings.selectors``).
"""

from django.db import migrations

# Each histogram counts its rows twice: by minute (unit 60) and by second (unit 1). A reader sums
# whole minutes, then the current minute's whole seconds, and reads only the current second's rows.
UNITS = "CROSS JOIN (VALUES (60), (1)) AS u(unit)"
QUEUE_KEY = (
    "u.unit, floor(extract(epoch FROM next_attempt_at) / u.unit)::bigint, attempts, "
    "coalesce(locked_at, '-infinity'::timestamptz)"
)
DISABLED_KEY = (
    "u.unit, floor(extract(epoch FROM disabled_until) / u.unit)::bigint, split_part(planning_full_id, '.', 1), "
    "last_failure_kind IS NOT NULL, coalesce(last_failure_kind, '')"
)

TABLES = """
CREATE TABLE opsportal_queue_histogram (
    unit integer NOT NULL, due_bucket bigint NOT NULL, attempts integer NOT NULL, locked_at timestamptz NOT NULL,
    row_count bigint NOT NULL, PRIMARY KEY (unit, due_bucket, attempts, locked_at));
CREATE TABLE opsportal_disabled_histogram (
    unit integer NOT NULL, until_bucket bigint NOT NULL, host text NOT NULL, has_kind boolean NOT NULL,
    kind text NOT NULL, row_count bigint NOT NULL, PRIMARY KEY (unit, until_bucket, host, has_kind, kind));
CREATE TABLE opsportal_disabled_state (
    planning_full_id text PRIMARY KEY, disabled_until timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX opsportal_disabled_state_recent_idx ON opsportal_disabled_state (updated_at DESC, planning_full_id);
"""

# A histogram's change by one statement: the changed rows' keys, +1 for each new row and -1 for
# each old one, netted per key, applied in key order (one lock order for concurrent writers).
HISTOGRAM_APPLY = """
    INSERT INTO {table} AS h ({columns}, row_count)
    SELECT {key}, sum(n) FROM ({changed}) AS c {units} {where}
    GROUP BY {positions} HAVING sum(n) <> 0 ORDER BY {positions}
    ON CONFLICT ({columns}) DO UPDATE SET row_count = h.row_count + EXCLUDED.row_count;
    DELETE FROM {table} WHERE row_count = 0
        AND ({columns}) IN (SELECT {key} FROM ({changed}) AS c {units} {where});
"""
QUEUE_COLUMNS = "unit, due_bucket, attempts, locked_at"
DISABLED_COLUMNS = "unit, until_bucket, host, has_kind, kind"

QUEUE_CHANGED = {
    "INSERT": "SELECT *, 1 AS n FROM new_rows",
    "DELETE": "SELECT *, -1 AS n FROM old_rows",
    "UPDATE": "SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows",
}
RECENT_APPLY = {
    "INSERT": """
    INSERT INTO opsportal_disabled_state (planning_full_id, disabled_until, updated_at)
    SELECT planning_full_id, disabled_until, updated_at FROM new_rows WHERE disabled_until IS NOT NULL
    ON CONFLICT (planning_full_id) DO UPDATE
        SET disabled_until = EXCLUDED.disabled_until, updated_at = EXCLUDED.updated_at;""",
    "DELETE": """
    DELETE FROM opsportal_disabled_state WHERE planning_full_id IN (SELECT planning_full_id FROM old_rows);""",
}
RECENT_APPLY["UPDATE"] = (
    """
    DELETE FROM opsportal_disabled_state WHERE planning_full_id IN (
        SELECT planning_full_id FROM old_rows EXCEPT SELECT planning_full_id FROM new_rows WHERE disabled_until IS NOT NULL);"""
    + RECENT_APPLY["INSERT"]
)


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN{body}\n    RETURN NULL;\nEND $$;\n"


def _queue_apply(op: str) -> str:
    return HISTOGRAM_APPLY.format(
        table="opsportal_queue_histogram",
        columns=QUEUE_COLUMNS,
        key=QUEUE_KEY,
        changed=QUEUE_CHANGED[op],
        units=UNITS,
        where="",
        positions="1, 2, 3, 4",
    )


def _disabled_apply(op: str) -> str:
    return HISTOGRAM_APPLY.format(
        table="opsportal_disabled_histogram",
        columns=DISABLED_COLUMNS,
        key=DISABLED_KEY,
        changed=QUEUE_CHANGED[op],
        units=UNITS,
        where="WHERE disabled_until IS NOT NULL",
        positions="1, 2, 3, 4, 5",
    )


OPS = {"INSERT": ("insert", "NEW TABLE AS new_rows"), "DELETE": ("delete", "OLD TABLE AS old_rows")}
OPS["UPDATE"] = ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows")


def forward_sql() -> list[str]:
    statements = [TABLES]
    for table, function, body in (
        ("plannings_refresh_queue", "opsportal_queue_histogram", _queue_apply),
        ("plannings_refresh_state", "opsportal_disabled_side", lambda op: _disabled_apply(op) + RECENT_APPLY[op]),
    ):
        statements.append(f"LOCK TABLE {table} IN SHARE MODE;")
        for op, (suffix, referencing) in OPS.items():
            statements.append(_function(f"{function}_{suffix}", body(op)))
            statements.append(
                f"CREATE TRIGGER {table}_side_{suffix} AFTER {op} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}_{suffix}();"
            )
    statements.append(
        _function(
            "opsportal_queue_histogram_truncate", "\n    DELETE FROM opsportal_queue_histogram;"
        )
        + "CREATE TRIGGER plannings_refresh_queue_side_truncate AFTER TRUNCATE ON plannings_refresh_queue "
        "FOR EACH STATEMENT EXECUTE FUNCTION opsportal_queue_histogram_truncate();"
    )
    statements.append(
        _function(
            "opsportal_disabled_side_truncate",
            "\n    DELETE FROM opsportal_disabled_histogram;\n    DELETE FROM opsportal_disabled_state;",
        )
        + "CREATE TRIGGER plannings_refresh_state_side_truncate AFTER TRUNCATE ON plannings_refresh_state "
        "FOR EACH STATEMENT EXECUTE FUNCTION opsportal_disabled_side_truncate();"
    )
    # The rows already there (under the SHARE locks taken above: no write slips in between).
    statements.append(_queue_apply("INSERT").replace("new_rows", "plannings_refresh_queue"))
    statements.append(
        (_disabled_apply("INSERT") + RECENT_APPLY["INSERT"]).replace("new_rows", "plannings_refresh_state")
    )
    return statements


BACKWARD = """
DROP TRIGGER IF EXISTS plannings_refresh_queue_side_insert ON plannings_refresh_queue;
DROP TRIGGER IF EXISTS plannings_refresh_queue_side_update ON plannings_refresh_queue;
DROP TRIGGER IF EXISTS plannings_refresh_queue_side_delete ON plannings_refresh_queue;
DROP TRIGGER IF EXISTS plannings_refresh_queue_side_truncate ON plannings_refresh_queue;
DROP TRIGGER IF EXISTS plannings_refresh_state_side_insert ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_side_update ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_side_delete ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_side_truncate ON plannings_refresh_state;
DROP FUNCTION IF EXISTS opsportal_queue_histogram_insert(), opsportal_queue_histogram_update(),
    opsportal_queue_histogram_delete(), opsportal_queue_histogram_truncate(), opsportal_disabled_side_insert(),
    opsportal_disabled_side_update(), opsportal_disabled_side_delete(), opsportal_disabled_side_truncate();
DROP TABLE IF EXISTS opsportal_queue_histogram, opsportal_disabled_histogram, opsportal_disabled_state;
"""


def create_side_tables(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in forward_sql():
        schema_editor.execute(statement)


def drop_side_tables(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("plannings", "0009_host_slot")]

    operations = [migrations.RunPython(create_side_tables, drop_side_tables)]
