"""On PostgreSQL, the trigger-kept counts of plannings and backups stay exact through every kind of write."""

import json

import psycopg
import pytest
from django.db import connection

from plannings.health import health_report
from plannings.web.serializers import health_json
from tests import factories

pytestmark = [pytest.mark.postgres_only]


def _counters() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, row_count FROM opsportal_row_counts")
        return dict(cursor.fetchall())


def _actual() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM plannings), (SELECT count(*) FROM plannings_backup)")
        plannings, backups = cursor.fetchone()
    return {"plannings": plannings, "plannings_backup": backups}


@pytest.mark.django_db
def test_counters_follow_inserts_upserts_deletes_and_cascades():
    assert _counters() == _actual() == {"plannings": 0, "plannings_backup": 0}
    plannings = factories.plannings_make(5)
    for planning in plannings[:3]:
        factories.backup_make(planning)
    assert _counters() == _actual() == {"plannings": 5, "plannings_backup": 3}

    from plannings.backups import backup_write

    backup_write(planning_full_id=plannings[0].pk, events=[], now=plannings[0].created_at)  # update: same count
    backup_write(planning_full_id=plannings[3].pk, events=[], now=plannings[0].created_at)  # insert
    assert _counters() == _actual() == {"plannings": 5, "plannings_backup": 4}

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM plannings WHERE full_id IN (%s, %s)", [plannings[0].pk, plannings[4].pk])
    assert _counters() == _actual() == {"plannings": 3, "plannings_backup": 3}  # cascade counted

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO plannings (full_id, planning_id) VALUES ('x.y', 'x') ON CONFLICT DO NOTHING")
        cursor.execute("INSERT INTO plannings (full_id, planning_id) VALUES ('x.y', 'x') ON CONFLICT DO NOTHING")
    assert _counters() == _actual() == {"plannings": 4, "plannings_backup": 3}
    assert health_json(health_report())["backups"]["total"] == 4


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_leaves_the_counters_alone_and_truncate_resets_them(live_database_url):
    factories.plannings_make(3)
    with psycopg.connect(live_database_url) as other:
        other.execute("INSERT INTO plannings (full_id, planning_id) VALUES ('r.a', 'r'), ('r.b', 'r')")
        other.rollback()
    assert _counters()["plannings"] == 3
    with psycopg.connect(live_database_url, autocommit=True) as other:
        other.execute(
            "INSERT INTO plannings_backup (planning_full_id, events, signature) VALUES ('school.p0', %s, 'x')",
            [json.dumps([])],
        )
        other.execute("TRUNCATE plannings CASCADE")
    assert _counters() == _actual() == {"plannings": 0, "plannings_backup": 0}
