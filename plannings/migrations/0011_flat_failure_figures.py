"""Trigger-kept side tables for the dashboard's failure figures (PostgreSQL only).

``failing_feeds`` grouped every planning by host, and ``failures_by_kind`` read every
failing state: both grew with the catalog. Like migration 0009 (same reasons, same
statement-level triggers, exact for every writer), these are kept instead:

* ``opsportal_host_feeds``: per host (a full id's first segment), the plannings with a
  feed URL and the refresh states whose last attempt failed.
* ``opsportal_failure_labels``: the failing states per label, whatever their age (the
  choices of the plannings list's failure filter, on every page of it).
* ``opsportal_failing_state``: the failing states (a kind and a last attempt time) with
  the label the dashboard groups them by, indexed by (label, time) and by time.
* ``opsportal_failure_histogram``: those states counted by (minute, and again second, of
  the last attempt; label). A window's whole minutes are summed here, then its edge
  minutes' whole seconds; only its two edge seconds are read from
  ``opsportal_failing_state``, through its time index.

SQLite deployments count as before (``plannings.selectors``).
"""

from django.db import migrations

# The dashboard's failure label (``plannings.selectors.FAILURE_LABEL``): a client error by its
# status (its last_error, http_404 ...), any other failure by its kind.
LABEL = "CASE WHEN last_failure_kind = 'http_4xx' AND left(last_error, 6) = 'http_4' THEN last_error ELSE last_failure_kind END"
FAILING = "last_failure_kind IS NOT NULL"
FEED = "url IS NOT NULL AND url <> ''"

TABLES = """
CREATE TABLE opsportal_host_feeds (host text PRIMARY KEY, feeds bigint NOT NULL, failing bigint NOT NULL);
CREATE TABLE opsportal_failing_state (
    planning_full_id text PRIMARY KEY, label text NOT NULL, last_attempt_at timestamptz NOT NULL);
CREATE INDEX opsportal_failing_state_label_idx ON opsportal_failing_state (label, last_attempt_at);
CREATE INDEX opsportal_failing_state_at_idx ON opsportal_failing_state (last_attempt_at);
CREATE TABLE opsportal_failure_labels (label text PRIMARY KEY, row_count bigint NOT NULL);
CREATE TABLE opsportal_failure_histogram (
    unit integer NOT NULL, bucket bigint NOT NULL, label text NOT NULL, row_count bigint NOT NULL,
    PRIMARY KEY (unit, bucket, label));
"""

CHANGED = {
    "INSERT": "SELECT *, 1 AS n FROM new_rows",
    "DELETE": "SELECT *, -1 AS n FROM old_rows",
    "UPDATE": "SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 AS n FROM old_rows",
}

# Net per host, in host order (one lock order for concurrent writers); rows at zero deleted.
HOST_APPLY = """
    INSERT INTO opsportal_host_feeds AS h (host, feeds, failing)
    SELECT split_part({id}, '.', 1), {feeds}, {failing} FROM ({changed}) AS c WHERE {where}
    GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
    ON CONFLICT (host) DO UPDATE SET feeds = h.feeds + EXCLUDED.feeds, failing = h.failing + EXCLUDED.failing;
    DELETE FROM opsportal_host_feeds WHERE feeds = 0 AND failing = 0
        AND host IN (SELECT split_part({id}, '.', 1) FROM ({changed}) AS c WHERE {where});
"""
# By minute (unit 60) and again by second (unit 1), as the histograms of migration 0009.
FAILURE_KEY = f"u.unit, floor(extract(epoch FROM last_attempt_at) / u.unit)::bigint, {LABEL}"
FAILURE_SOURCE = (
    "({changed}) AS c CROSS JOIN (VALUES (60), (1)) AS u(unit) "
    f"WHERE {FAILING} AND last_attempt_at IS NOT NULL"
)
FAILURE_APPLY = f"""
    INSERT INTO opsportal_failure_histogram AS h (unit, bucket, label, row_count)
    SELECT {FAILURE_KEY}, sum(n) FROM {FAILURE_SOURCE}
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (unit, bucket, label) DO UPDATE SET row_count = h.row_count + EXCLUDED.row_count;
    DELETE FROM opsportal_failure_histogram WHERE row_count = 0 AND (unit, bucket, label) IN (
        SELECT {FAILURE_KEY} FROM {FAILURE_SOURCE});
"""
# The failing states per label, whatever their age (the plannings list's failure filter choices).
LABELS_APPLY = f"""
    INSERT INTO opsportal_failure_labels AS h (label, row_count)
    SELECT {LABEL}, sum(n) FROM ({{changed}}) AS c WHERE {FAILING} GROUP BY 1 HAVING sum(n) <> 0 ORDER BY 1
    ON CONFLICT (label) DO UPDATE SET row_count = h.row_count + EXCLUDED.row_count;
    DELETE FROM opsportal_failure_labels WHERE row_count = 0
        AND label IN (SELECT {LABEL} FROM ({{changed}}) AS c WHERE {FAILING});
"""
FAILING_COPY = {
    "INSERT": f"""
    INSERT INTO opsportal_failing_state (planning_full_id, label, last_attempt_at)
    SELECT planning_full_id, {LABEL}, last_attempt_at FROM new_rows WHERE {FAILING} AND last_attempt_at IS NOT NULL
    ON CONFLICT (planning_full_id) DO UPDATE SET label = EXCLUDED.label, last_attempt_at = EXCLUDED.last_attempt_at;""",
    "DELETE": """
    DELETE FROM opsportal_failing_state WHERE planning_full_id IN (SELECT planning_full_id FROM old_rows);""",
}
FAILING_COPY["UPDATE"] = (
    f"""
    DELETE FROM opsportal_failing_state WHERE planning_full_id IN (
        SELECT planning_full_id FROM old_rows
        EXCEPT SELECT planning_full_id FROM new_rows WHERE {FAILING} AND last_attempt_at IS NOT NULL);"""
    + FAILING_COPY["INSERT"]
)
OPS = {
    "INSERT": ("insert", "NEW TABLE AS new_rows"),
    "UPDATE": ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "DELETE": ("delete", "OLD TABLE AS old_rows"),
}


def _plannings_body(op: str) -> str:
    counted = "sum(n)"
    return HOST_APPLY.format(id="full_id", feeds=counted, failing="0", changed=CHANGED[op], where=FEED)


def _states_body(op: str) -> str:
    counted = "sum(n)"
    hosts = HOST_APPLY.format(id="planning_full_id", feeds="0", failing=counted, changed=CHANGED[op], where=FAILING)
    labels = LABELS_APPLY.format(changed=CHANGED[op])
    return hosts + labels + FAILURE_APPLY.format(changed=CHANGED[op]) + FAILING_COPY[op]


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN{body}\n    RETURN NULL;\nEND $$;\n"


def forward_sql() -> list[str]:
    statements = [TABLES]
    for table, function, body in (
        ("plannings", "opsportal_host_feeds", _plannings_body),
        ("plannings_refresh_state", "opsportal_failing_side", _states_body),
    ):
        statements.append(f"LOCK TABLE {table} IN SHARE MODE;")
        for op, (suffix, referencing) in OPS.items():
            statements.append(_function(f"{function}_{suffix}", body(op)))
            statements.append(
                f"CREATE TRIGGER {table}_failures_{suffix} AFTER {op} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}_{suffix}();"
            )
    # A truncate of plannings cascades to the states (their own truncate trigger runs too).
    statements.append(
        _function("opsportal_host_feeds_truncate", "\n    UPDATE opsportal_host_feeds SET feeds = 0;"
                  "\n    DELETE FROM opsportal_host_feeds WHERE failing = 0;")
        + "CREATE TRIGGER plannings_failures_truncate AFTER TRUNCATE ON plannings "
        "FOR EACH STATEMENT EXECUTE FUNCTION opsportal_host_feeds_truncate();"
    )
    statements.append(
        _function(
            "opsportal_failing_side_truncate",
            "\n    UPDATE opsportal_host_feeds SET failing = 0;\n    DELETE FROM opsportal_host_feeds WHERE feeds = 0;"
            "\n    DELETE FROM opsportal_failing_state;\n    DELETE FROM opsportal_failure_histogram;"
            "\n    DELETE FROM opsportal_failure_labels;",
        )
        + "CREATE TRIGGER plannings_refresh_state_failures_truncate AFTER TRUNCATE ON plannings_refresh_state "
        "FOR EACH STATEMENT EXECUTE FUNCTION opsportal_failing_side_truncate();"
    )
    # The rows already there (under the SHARE locks taken above).
    statements.append(_plannings_body("INSERT").replace("new_rows", "plannings"))
    statements.append(_states_body("INSERT").replace("new_rows", "plannings_refresh_state"))
    return statements


BACKWARD = """
DROP TRIGGER IF EXISTS plannings_failures_insert ON plannings;
DROP TRIGGER IF EXISTS plannings_failures_update ON plannings;
DROP TRIGGER IF EXISTS plannings_failures_delete ON plannings;
DROP TRIGGER IF EXISTS plannings_failures_truncate ON plannings;
DROP TRIGGER IF EXISTS plannings_refresh_state_failures_insert ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_failures_update ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_failures_delete ON plannings_refresh_state;
DROP TRIGGER IF EXISTS plannings_refresh_state_failures_truncate ON plannings_refresh_state;
DROP FUNCTION IF EXISTS opsportal_host_feeds_insert(), opsportal_host_feeds_update(), opsportal_host_feeds_delete(),
    opsportal_host_feeds_truncate(), opsportal_failing_side_insert(), opsportal_failing_side_update(),
    opsportal_failing_side_delete(), opsportal_failing_side_truncate();
DROP TABLE IF EXISTS opsportal_host_feeds, opsportal_failing_state, opsportal_failure_histogram,
    opsportal_failure_labels;
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
    dependencies = [("plannings", "0010_flat_health_reads")]

    operations = [migrations.RunPython(create_side_tables, drop_side_tables)]
