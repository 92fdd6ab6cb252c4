"""On PostgreSQL: the migrated schema is upstream's, and an upstream database is adopted as is."""

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_DDL = Path(__file__).with_name("upstream_schema.sql")
MIRRORED = ("plannings", "plannings_backup", "plannings_refresh_queue", "plannings_refresh_state")

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

COLUMNS_SQL = """
SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY(%s)
ORDER BY table_name, column_name
"""
INDEXES_SQL = """
SELECT tablename, indexname, regexp_replace(indexdef, ' ON public\\.', ' ON ') FROM pg_indexes
WHERE schemaname = 'public' AND tablename = ANY(%s) AND indexname NOT LIKE '%%_pkey'
ORDER BY tablename, indexname
"""
FOREIGN_KEYS_SQL = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) ORDER BY 1, 2
"""


def _schema(cursor) -> dict:
    return {
        name: [tuple(row) for row in (cursor.execute(sql, [list(MIRRORED)]) or cursor).fetchall()]
        for name, sql in (("columns", COLUMNS_SQL), ("indexes", INDEXES_SQL), ("fks", FOREIGN_KEYS_SQL))
    }


@pytest.fixture
def upstream_database():
    """A fresh database in the private cluster, built from upstream's DDL; dropped afterwards."""
    admin_url = os.environ["DATABASE_URL"]
    name = f"upstream_{uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(UPSTREAM_DDL.read_text())
    yield url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
        "DJANGO_ENV": "test",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_migrations_build_exactly_upstreams_schema(upstream_database):
    with connection.cursor() as cursor:
        migrated = _schema(cursor.cursor)
    with psycopg.connect(upstream_database) as conn, conn.cursor() as cursor:
        upstream = _schema(cursor)
    assert migrated["columns"] == upstream["columns"]
    assert migrated["indexes"] == upstream["indexes"]
    assert migrated["fks"] == upstream["fks"]
    assert len(migrated["fks"]) == 3 and all("ON DELETE CASCADE" in fk[2] for fk in migrated["fks"])


def test_an_upstream_database_is_adopted_with_fake_initial_and_used(upstream_database, tmp_path):
    migrate = _manage(upstream_database, "migrate", "--fake-initial", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    assert "plannings.0001_initial... FAKED" in migrate.stdout
    assert "plannings.0003_job_state... OK" in migrate.stdout

    # The portal reads what upstream wrote ...
    health = _manage(upstream_database, "ops_health")
    report = json.loads(health.stdout)
    assert report["backups"] == {"total": 2, "covered": 1, "disabled": 1}
    assert report["failedHosts"] == [{"host": "enscr", "count": 1, "lastFailure": "timeout"}]

    # ... and writes to it: a catalog import updates, adds and removes (cascading in the database).
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "enscr.json").write_text(
        json.dumps(
            {
                "title": "ENSCR",
                "children": [
                    {
                        "id": "cycleingenieur",
                        "title": "CI",
                        "children": [
                            {
                                "id": "1iereanneeci",
                                "title": "1A",
                                "children": [
                                    {
                                        "id": "elevesing1iereannee",
                                        "title": "Renamed",
                                        "url": "https://planning.test/a.ics",
                                    },
                                    {"id": "nouveau", "title": "New", "url": "https://planning.test/b.ics"},
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    imported = _manage(upstream_database, "import_plannings", str(catalog))
    assert imported.returncode == 0, imported.stderr
    assert "added 1, updated 1, unchanged 0, removed 1, skipped 0" in imported.stdout
    with psycopg.connect(upstream_database) as conn:
        titles = conn.execute("SELECT full_id, title FROM plannings ORDER BY full_id").fetchall()
        backups = conn.execute("SELECT count(*) FROM plannings_backup").fetchone()[0]
    assert titles == [
        ("enscr.cycleingenieur.1iereanneeci.elevesing1iereannee", "Renamed"),
        ("enscr.cycleingenieur.1iereanneeci.nouveau", "New"),
    ]
    assert backups == 0


def test_deleting_a_planning_in_sql_cascades_in_the_database(upstream_database):
    with psycopg.connect(upstream_database, autocommit=True) as conn:
        conn.execute("DELETE FROM plannings WHERE full_id = 'legacy.only.here'")
        assert conn.execute("SELECT count(*) FROM plannings_backup").fetchone()[0] == 0
