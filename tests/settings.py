"""Test settings: the portal's settings on a private PostgreSQL cluster (or SQLite).

``TEST_DATABASE=postgres`` (the default) starts a private cluster on a free
loopback port for this pytest process and stops it at exit; ``TEST_DATABASE=sqlite``
runs the portable tests on SQLite. Without PostgreSQL installed, tests fall back
to SQLite and PostgreSQL-only tests skip with the reason, except under ``CI=true``
where a missing server is a failure.
"""

import atexit
import os
import tempfile
from pathlib import Path

import environ

os.environ.setdefault("DJANGO_ENV", "test")

from opsportal.settings import *  # noqa: E402,F403
from scripts.servers.postgres import PrivatePostgres, ServerUnavailable  # noqa: E402

TEST_DATABASE = os.environ.get("TEST_DATABASE", "postgres").strip().lower()
if TEST_DATABASE not in {"postgres", "sqlite"}:
    raise SystemExit(f"TEST_DATABASE={TEST_DATABASE!r}: use postgres or sqlite")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_UNAVAILABLE_REASON = ""

if TEST_DATABASE == "postgres":
    try:
        _cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="opsportal-test-pg-")))
        os.environ["DATABASE_URL"] = _cluster.start()
        atexit.register(_cluster.destroy)
        DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
    except ServerUnavailable as exc:
        if IN_CI:
            raise SystemExit(f"CI=true and PostgreSQL is unavailable: {exc}") from exc
        POSTGRES_UNAVAILABLE_REASON = str(exc)
        TEST_DATABASE = "sqlite"

if TEST_DATABASE == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks sent by the code under test (the worker wake-up) go to an in-memory broker;
# the tests that need a real broker start a private Redis.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
PLANNINGS_REFRESH_BACKOFF_JITTER = False
CURL_TIMEOUT = 1000
