"""The production install, tested: a venv from requirements/production.txt alone, the Procfile's commands.

Fixtures: ``prod_venv`` (built once, cached outside the work tree: tests/production/prod_venv.py),
``prod_env`` (the environment of a production process on the suite's private PostgreSQL and Redis),
``procfile_start`` (a Procfile line run as the image's entrypoint runs it, stopped after the test).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from scripts.servers.process import process_stop
from tests.production.prod_venv import ROOT, VenvBuildFailed, production_venv

_BUILDS: list[str] = []
# What a container would have of the host's environment: nothing of the development venv or the suite.
_KEPT = ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "TZ")


@pytest.fixture(scope="session")
def prod_venv() -> Path:
    """The production venv (building it takes about half a minute, once per set of pins)."""
    with ExitStack() as stack:
        try:
            venv, seconds = stack.enter_context(production_venv())
        except VenvBuildFailed as failure:
            pytest.fail(str(failure), pytrace=False)
        _BUILDS.append(f"{venv} (" + (f"built in {seconds:.0f} s" if seconds is not None else "cached") + ")")
        yield venv


def pytest_terminal_summary(terminalreporter):
    for line in _BUILDS:
        terminalreporter.write_line(f"production venv: {line}")


@pytest.fixture
def prod_env(prod_venv, live_database_url, redis_server, tmp_path) -> dict[str, str]:
    """DJANGO_ENV=production, as the Dockerfile sets it, on the test database and the private Redis."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()  # no queued tasks or job counts of earlier tests
    var = tmp_path / "var"
    var.mkdir()
    return {
        **{name: os.environ[name] for name in _KEPT if name in os.environ},
        "PATH": f"{prod_venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "OPSPORTAL_BASE_URL": "http://127.0.0.1",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "OPSPORTAL_VAR_DIR": str(var),
        "OPS_TOKEN": secrets.token_urlsafe(36),  # 48 characters
        "DATABASE_URL": live_database_url,
        "CELERY_BROKER_URL": redis_server.url,
        "JOBS_QUIET_HOURS": "off",  # the jobs run whatever the hour of the test
    }


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python manage.py ...`` with the production venv's python, from the checkout."""
    python = Path(env["PATH"].split(":", 1)[0]) / "python"
    return subprocess.run(
        [str(python), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def procfile_line(name: str, **replace: str) -> str:
    """The Procfile's command for ``name``; ``replace`` swaps one literal piece each (it must be there once)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    commands = dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))
    command = commands[name]
    for old, new in replace.items():
        assert command.count(old) == 1, f"the Procfile's {name} line no longer has {old!r}: {command}"
        command = command.replace(old, new)
    return command


class Process:
    """A started Procfile process and its log."""

    def __init__(self, name: str, process: subprocess.Popen, log: Path):
        self.name, self.process, self.log = name, process, log

    def output(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.process.returncode}:\n{self.output()}")
        return True

    def stop(self) -> None:
        process_stop(self.process)
        # Gunicorn's and Celery's children, should one outlive its parent: the group is this test's.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def procfile_start(tmp_path) -> Callable[..., Process]:
    """Run a Procfile line as the image's entrypoint does: ``/bin/sh -c "exec LINE"`` (its ${VARS} expanded)."""
    started: list[Process] = []

    def start(name: str, env: dict[str, str], **replace: str) -> Process:
        command = procfile_line(name, **replace)
        log = tmp_path / f"{name}.log"
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started.append(Process(name, process, log))
        return started[-1]

    yield start
    with ThreadPoolExecutor(max_workers=max(len(started), 1)) as pool:  # side by side: each may take seconds
        list(pool.map(Process.stop, started))


def log_has(process: Process, pattern: str) -> re.Match | None:
    process.alive()
    return re.search(pattern, process.log.read_text(errors="replace"), flags=re.M)
