"""``opsportal_rebuild_side_tables()``: every trigger-kept side table recomputed from the mirrored tables.

The counters (0005) and side tables (0010, 0011) are exact only while their triggers fire.
A writer with ``session_replication_role = replica`` does not fire them: a logical
replication subscriber, ``pg_restore --disable-triggers``, a bulk load (the 10,000,000-row
bench fill, ``bench.fill``). After such a load an operator puts the figures right with

    SELECT opsportal_rebuild_side_tables();

one GROUP BY per side table instead of the triggers' per-statement deltas. The keys are the
triggers' own expressions (imported from their migrations), so the result is what the
triggers would have kept for the same rows (tests/plannings/test_rebuild_side_tables.py).
The mirrored tables are locked in SHARE mode: no write (and so no trigger) runs between the
counts and the commit. The side tables are emptied with DELETE, not TRUNCATE, so readers
keep seeing the old figures until the rebuild commits.
"""

import importlib

from django.db import migrations

# The triggers' key expressions, frozen as they are at their migrations.
health = importlib.import_module("plannings.migrations.0010_flat_health_reads")
failures = importlib.import_module("plannings.migrations.0011_flat_failure_figures")

UNITS = "CROSS JOIN (VALUES (60), (1)) AS u(unit)"

REBUILD = f"""
CREATE FUNCTION opsportal_rebuild_side_tables() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE plannings, plannings_backup, plannings_refresh_queue, plannings_refresh_state IN SHARE MODE;

    UPDATE opsportal_row_counts SET row_count = (SELECT count(*) FROM plannings) WHERE table_name = 'plannings';
    UPDATE opsportal_row_counts SET row_count = (SELECT count(*) FROM plannings_backup)
        WHERE table_name = 'plannings_backup';

    DELETE FROM opsportal_queue_histogram;
    INSERT INTO opsportal_queue_histogram ({health.QUEUE_COLUMNS}, row_count)
    SELECT {health.QUEUE_KEY}, count(*) FROM plannings_refresh_queue {UNITS}
    GROUP BY 1, 2, 3, 4;

    DELETE FROM opsportal_disabled_histogram;
    INSERT INTO opsportal_disabled_histogram ({health.DISABLED_COLUMNS}, row_count)
    SELECT {health.DISABLED_KEY}, count(*) FROM plannings_refresh_state {UNITS}
    WHERE disabled_until IS NOT NULL GROUP BY 1, 2, 3, 4, 5;

    DELETE FROM opsportal_disabled_state;
    INSERT INTO opsportal_disabled_state (planning_full_id, disabled_until, updated_at)
    SELECT planning_full_id, disabled_until, updated_at FROM plannings_refresh_state
    WHERE disabled_until IS NOT NULL;

    DELETE FROM opsportal_host_feeds;
    INSERT INTO opsportal_host_feeds (host, feeds, failing)
    SELECT host, sum(feeds), sum(failing) FROM (
        SELECT split_part(full_id, '.', 1) AS host, count(*) AS feeds, 0 AS failing
        FROM plannings WHERE {failures.FEED} GROUP BY 1
        UNION ALL
        SELECT split_part(planning_full_id, '.', 1), 0, count(*)
        FROM plannings_refresh_state WHERE {failures.FAILING} GROUP BY 1
    ) AS per_table GROUP BY host;

    DELETE FROM opsportal_failure_labels;
    INSERT INTO opsportal_failure_labels (label, row_count)
    SELECT {failures.LABEL}, count(*) FROM plannings_refresh_state WHERE {failures.FAILING} GROUP BY 1;

    DELETE FROM opsportal_failing_state;
    INSERT INTO opsportal_failing_state (planning_full_id, label, last_attempt_at)
    SELECT planning_full_id, {failures.LABEL}, last_attempt_at FROM plannings_refresh_state
    WHERE {failures.FAILING} AND last_attempt_at IS NOT NULL;

    DELETE FROM opsportal_failure_histogram;
    INSERT INTO opsportal_failure_histogram (unit, bucket, label, row_count)
    SELECT {failures.FAILURE_KEY}, count(*) FROM plannings_refresh_state {UNITS}
    WHERE {failures.FAILING} AND last_attempt_at IS NOT NULL GROUP BY 1, 2, 3;
END $$;
"""


def create_rebuild(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(REBUILD)


def drop_rebuild(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP FUNCTION IF EXISTS opsportal_rebuild_side_tables();")


class Migration(migrations.Migration):
    dependencies = [("plannings", "0011_flat_failure_figures")]

    operations = [migrations.RunPython(create_rebuild, drop_rebuild)]
