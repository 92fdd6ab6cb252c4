"""``opsportal_rebuild_side_tables()`` (migration 0012) gives back exactly what the triggers keep,
and so does the bench's fast fill, which loads with every trigger off and then rebuilds."""

import random
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection

from bench import fill
from tests.plannings.side_table_rows import rows_fill, rows_rewrite

pytestmark = [pytest.mark.postgres_only]

SIDE_TABLES = (
    "opsportal_row_counts",
    "opsportal_queue_histogram",
    "opsportal_disabled_histogram",
    "opsportal_disabled_state",
    "opsportal_host_feeds",
    "opsportal_failure_labels",
    "opsportal_failing_state",
    "opsportal_failure_histogram",
    "opsportal_planning_host",
    "opsportal_planning_no_backup",
)


def _side_tables(cursor) -> dict[str, list[str]]:
    """Every side table's rows, as text (a lock of none is '-infinity'), sorted."""
    tables = {}
    for table in SIDE_TABLES:
        cursor.execute(f"SELECT t::text FROM {table} AS t")
        tables[table] = sorted(row[0] for row in cursor.fetchall())
    return tables


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_the_rebuild_gives_back_what_the_triggers_kept(seed):
    """Random rows through inserts, updates, deletes and cascades (the triggers keep the side tables);
    the side tables emptied; the rebuild fills them again, row for row."""
    rng = random.Random(seed)
    rows_rewrite(rng, rows_fill(rng, 300))
    with connection.cursor() as cursor:
        kept = _side_tables(cursor)
        assert all(kept[table] for table in SIDE_TABLES), kept  # the rows exercise every side table
        cursor.execute("UPDATE opsportal_row_counts SET row_count = 0")
        cursor.execute("DELETE FROM " + "; DELETE FROM ".join(SIDE_TABLES[1:]))
        cursor.execute("SELECT opsportal_rebuild_side_tables()")
        assert _side_tables(cursor) == kept


@pytest.mark.django_db(transaction=True)
def test_the_fast_fill_keeps_the_schema_and_gives_the_side_tables_the_triggers_give(live_database_url):
    at = datetime(2026, 3, 10, 12, 0, 30, 250_000, tzinfo=UTC)
    with psycopg.connect(live_database_url, autocommit=True) as conn:
        schema = fill._schema(conn)
        fill.load(conn, 3000, at=at)
        assert fill._schema(conn) == schema  # keys, foreign keys and indexes built again, the same
        fill.check_side_tables(conn)
        fast = _side_tables(conn.cursor())

        # The same rows through the triggers (a truncate, then each insert a statement).
        conn.execute(f"TRUNCATE {', '.join(fill.MIRRORED)}")
        for statement in fill.ROWS.values():
            conn.execute(statement, {"n": 3000, "at": at})
        assert _side_tables(conn.cursor()) == fast
        assert len(fast["opsportal_disabled_state"]) == 3000 * 8 // 100  # i % 100 < 8


@pytest.mark.django_db(transaction=True)
def test_a_failed_fast_fill_puts_the_keys_and_indexes_back(live_database_url):
    with psycopg.connect(live_database_url, autocommit=True) as conn:
        schema = fill._schema(conn)
        with pytest.raises(psycopg.errors.InvalidDatetimeFormat):
            fill.load(conn, 10, at="not a time")  # fails inside the tables' own transactions
        assert fill._schema(conn) == schema
        fill.check_side_tables(conn)
