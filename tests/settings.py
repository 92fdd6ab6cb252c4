"""Test settings: the portal's settings on the database the test run chose.

The database server itself is started by the pytest plugin ``tests/pytest_servers.py`` (before
pytest-django imports these settings), which passes its choice in the environment: importing the
settings starts no server. Outside pytest (``make test``'s ``makemigrations --check``) they are
SQLite's.
"""

import ipaddress
import os

import environ

os.environ.setdefault("DJANGO_ENV", "test")

from opsportal.settings import *  # noqa: E402,F403

TEST_DATABASE = os.environ.get("OPSPORTAL_TEST_DATABASE", "sqlite")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_UNAVAILABLE_REASON = os.environ.get("OPSPORTAL_POSTGRES_UNAVAILABLE", "")

if TEST_DATABASE == "postgres":
    DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
    DATABASES["default"]["OPTIONS"] = {"options": POSTGRES_CONNECTION_OPTIONS}  # noqa: F405  (the portal's: no JIT)

if TEST_DATABASE == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks sent by the code under test (the worker wake-up) go to an in-memory broker;
# the tests that need a real broker start a private Redis.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
PLANNINGS_REFRESH_BACKOFF_JITTER = False
CURL_TIMEOUT = 1000
# The alerts' test receivers (webhooks, SMTP) listen on loopback, which a channel may not reach by
# default: allowed here, as an operator allows an internal relay. Tests of the policy itself set [].
OPSPORTAL_ALERTS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
