"""Indexes for the trail's searches at ten million rows, PostgreSQL only (SQLite has neither GIN nor trigrams).

* ``targets`` (GIN, ``jsonb_path_ops``): an object's history (``?target=`` of the API, a container's restarts,
  the Audit page's search for an id) reads its rows, not the whole trail as a containment test row by row.
* ``UPPER(actor)``, ``UPPER(token_name)`` (GIN trigrams): the Audit page's search for part of a name is
  ``UPPER(col) LIKE UPPER('%term%')``, which these serve; with the ``targets`` index the search's three
  alternatives become one bitmap OR instead of a scan. ``pg_trgm`` is a trusted extension (PostgreSQL 13+:
  the database's owner may create it); where it cannot be created the trigram indexes are left out and the
  search by name stays a scan, said by a warning.

Built ``CONCURRENTLY`` (so outside a transaction): writers keep appending to a large trail meanwhile.
"""

import warnings

from django.db import DatabaseError, migrations

TARGETS = "audit_targets_gin"
TRIGRAMS = {"audit_actor_trgm": "actor", "audit_token_name_trgm": "token_name"}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TARGETS} ON audit_event USING gin (targets jsonb_path_ops)",
        params=None,
    )
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
    except DatabaseError as refused:
        warnings.warn(f"pg_trgm not created ({refused}): the Audit page's search by name stays a scan", stacklevel=1)
        return
    for name, column in TRIGRAMS.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON audit_event "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)",
            params=None,
        )


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in (TARGETS, *TRIGRAMS):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("audit", "0004_hash_existing_rows_and_append_only"),
    ]

    operations = [
        migrations.RunPython(indexes_create, indexes_drop),
    ]
