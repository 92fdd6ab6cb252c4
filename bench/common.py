"""Shared set-up for benchmarks: a private PostgreSQL cluster and Django configured on it."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from scripts.servers.postgres import PrivatePostgres

ROOT = Path(__file__).resolve().parent.parent

# The bench servers are disposable: tuned for bulk loads (bench.fill's 10,000,000 plannings).
# wal_level=minimal lets a load into tables truncated in its own transaction skip the WAL;
# big WAL and checkpoint limits keep checkpoints out of a load; index builds sort in memory,
# with two parallel workers. None of these changes what a read does.
BULK_LOAD_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
}


@contextmanager
def private_postgres_django():
    """Start a private cluster, point Django at it, migrate; yield the database URL."""
    cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="opsportal-bench-pg-")), settings=BULK_LOAD_SETTINGS)
    url = cluster.start()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
    os.environ.setdefault("DJANGO_ENV", "test")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    try:
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        cluster.destroy()


def p50_ms(func: Callable[[], object], *, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)
