"""A pytest plugin (``-p tests.pytest_servers`` in pyproject.toml): the test database server.

``TEST_DATABASE=postgres`` (the default) starts a private PostgreSQL cluster on a free loopback
port for this pytest process, before pytest-django imports the settings, and removes it when the
run ends; ``TEST_DATABASE=sqlite`` runs the portable tests on SQLite. Without PostgreSQL
installed the run falls back to SQLite and the PostgreSQL-only tests skip with the reason, except
under ``CI=true`` where a missing server stops the run.

It hands ``tests/settings.py`` its choice through the environment (``DATABASE_URL``,
``OPSPORTAL_TEST_DATABASE``, ``OPSPORTAL_POSTGRES_UNAVAILABLE``), so importing the settings
starts nothing and creates nothing.

Under pytest-xdist (``make test TEST_WORKERS=2`` runs ``-n 2``) every worker process loads this plugin and starts a
cluster of its own, so a test that restarts "its" server (tests/faults) restarts only its worker's;
the controller, which runs no test, starts none.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

CLUSTER = None  # the PrivatePostgres of this run; tests/faults restarts it


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def xdist_controller(early_config) -> bool:
    """This process hands the tests to pytest-xdist workers (``-n N``, N > 0) and runs none itself."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    options = early_config.known_args_namespace
    # xdist runs in this process after all under --pdb; "auto" means one worker at least.
    return getattr(options, "numprocesses", None) not in (None, 0) and not getattr(options, "usepdb", False)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # A wrapper runs before every plain implementation, pytest-django's (which imports the settings) included.
    global CLUSTER
    choice = os.environ.get("TEST_DATABASE", "postgres").strip().lower()
    if choice not in {"postgres", "sqlite"}:
        raise pytest.UsageError(f"TEST_DATABASE={choice!r}: use postgres or sqlite")
    if choice == "postgres" and xdist_controller(early_config):
        # Its workers inherit this environment and replace the URL with their own cluster's.
        os.environ["DATABASE_URL"] = "postgres://xdist-controller-runs-no-test@127.0.0.1:9/none"
    elif choice == "postgres":
        from scripts.servers.postgres import PrivatePostgres, ServerUnavailable

        try:
            CLUSTER = PrivatePostgres(Path(tempfile.mkdtemp(prefix="opsportal-test-pg-")))
            os.environ["DATABASE_URL"] = CLUSTER.start()
        except ServerUnavailable as exc:
            if in_ci():
                raise pytest.UsageError(f"CI=true and PostgreSQL is unavailable: {exc}") from exc
            os.environ["OPSPORTAL_POSTGRES_UNAVAILABLE"] = str(exc)
            CLUSTER, choice = None, "sqlite"
    os.environ["OPSPORTAL_TEST_DATABASE"] = choice
    return (yield)


def pytest_unconfigure(config):
    global CLUSTER
    if CLUSTER is not None:
        CLUSTER.destroy()
        CLUSTER = None
