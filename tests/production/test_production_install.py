"""Production is the tested path: requirements/production.txt alone runs the Procfile on PostgreSQL and Redis.

The venv holds production.txt and nothing else (tests/production/prod_venv.py); the project runs from
the checkout with its python, as the image runs /app with /opt/venv. Against the suite's private
PostgreSQL and Redis, with DJANGO_ENV=production:

1. manage.py migrate and check --deploy (what the Dockerfile gates its build on), collectstatic
   (what the Procfile says to run before web); the Redis transport of the broker imports and
   connects; every module of the three apps imports;
2. the Procfile's web line (gunicorn) serves the health endpoint and /queues read from Redis;
3. its worker line runs real tasks sent from the production venv (a health snapshot, a planning's
   refresh from the feed server) and its beat line sends its scheduled refresh tick, each seen by
   its effect in PostgreSQL.

The Procfile is read, not copied: two pieces of it are swapped, each asserted to be there, the web
bind address (loopback here instead of 0.0.0.0) and beat's schedule file (this test's folder, not
/tmp/celerybeat-schedule, which another beat on the machine may hold).
"""

import json
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest
from django.utils import timezone
from packaging.utils import canonicalize_name

from opsportal.workers.models import WorkerProcess
from plannings.models import HealthSnapshot, JobRuntime, Planning, PlanningBackup, PlanningRefreshQueue
from scripts.servers.postgres import free_port
from tests.faults.conftest import wait_until
from tests.production.conftest import log_has, manage, procfile_line
from tests.production.prod_venv import REQUIREMENTS, requirement_pins

pytestmark = pytest.mark.postgres_only

HTTPS = {"X-Forwarded-Proto": "https"}  # what kamal-proxy adds: TLS ends there


def _ok(result, what: str) -> str:
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{what} exited {result.returncode}:\n{output}"
    return result.stdout


def _pip(venv, *args: str) -> str:
    command = [str(venv / "bin" / "python"), "-m", "pip", *args, "--disable-pip-version-check"]
    return _ok(subprocess.run(command, capture_output=True, text=True, timeout=120), f"pip {args[0]}")


def test_manage_py_migrates_checks_and_reaches_the_redis_broker(prod_venv, prod_env):
    # The venv holds production.txt's pins, all of them and nothing else (pip itself aside).
    listed = json.loads(_pip(prod_venv, "list", "--format=json"))
    installed = {canonicalize_name(row["name"]): row["version"] for row in listed}
    pinned = {name: version for name, (version, _hashes) in requirement_pins(REQUIREMENTS).items()}
    assert {name: v for name, v in installed.items() if name not in {"pip", "setuptools", "wheel"}} == pinned
    assert "No broken requirements" in _pip(prod_venv, "check")
    # Kombu's Redis transport: with celery and redis pinned without celery[redis], this import failed.
    code = (
        "from opsportal.celery import app; import kombu.transport.redis; "
        "connection = app.connection_for_write(); connection.ensure_connection(max_retries=1); "
        "print(connection.transport.driver_name, connection.hostname, connection.port)"
    )
    out = _ok(manage(prod_env, "shell", "-c", code), "the broker connection")
    assert out.splitlines()[-1] == f"redis 127.0.0.1 {urlsplit(prod_env['CELERY_BROKER_URL']).port}", out
    # Every module of the apps imports with production's packages alone (no test or dev tool slipped in).
    code = (
        "import importlib, pkgutil\n"
        "for package in ('opsportal', 'plannings', 'walletops'):\n"
        "    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "        print(info.name)"
    )
    modules = _ok(manage(prod_env, "shell", "-c", code), "importing every module").split()
    assert {"opsportal.wsgi", "opsportal.celery", "plannings.tasks", "walletops.web.api"} <= set(modules)
    out = _ok(manage(prod_env, "migrate", "--noinput"), "migrate")
    assert "No migrations to apply" in out  # the suite migrated this database with the same code
    _ok(manage(prod_env, "check", "--deploy", "--fail-level", "WARNING"), "check --deploy")
    out = _ok(manage(prod_env, "collectstatic", "--noinput"), "collectstatic")
    assert "static files copied" in out


def test_procfile_web_worker_and_beat_on_postgres_and_redis(prod_env, procfile_start, feed_server, tmp_path):
    # Beat's scheduled refresh tick must be the only thing that can drain the second planning below:
    # the backfill (which beat also sends once, when it starts) is left out.
    env = {**prod_env, "ALLOWED_JOBS": "plannings-refresh-worker", "PORT": str(free_port())}
    env.update(WEB_CONCURRENCY="2", CELERY_CONCURRENCY="2")
    token = _ok(manage(env, "create_api_token", "--name", "production-check", "--scopes", "read"), "create_api_token")
    token = token.strip().splitlines()[-1]  # the secret, printed once
    base = f"http://127.0.0.1:{env['PORT']}"

    # --- web: the Procfile's gunicorn line ---------------------------------------------------------
    web = procfile_start("web", env, **{"--bind 0.0.0.0:": "--bind 127.0.0.1:"})

    def health():
        web.alive()
        try:
            response = httpx.get(f"{base}/api/ops/plannings", headers={"x-ops-token": env["OPS_TOKEN"]}, timeout=5)
        except httpx.HTTPError:
            return None
        return response

    response = wait_until(health, timeout=60, message=lambda: f"gunicorn never answered:\n{web.output()}")
    assert response.status_code == 200, response.text
    assert {"status", "workers", "backups"} <= set(response.json())
    assert httpx.get(f"{base}/api/ops/plannings").status_code == 404  # no token, no health

    queues_url = f"{base}/api/v1/admin/ops/queues"
    assert httpx.get(queues_url, headers=HTTPS).status_code in {401, 403}
    bearer = {**HTTPS, "Authorization": f"Bearer {token}"}
    response = httpx.get(queues_url, headers=bearer, timeout=10)
    assert response.status_code == 200, f"{response.text[:300]}\n{web.output()}"
    queues = {row["name"]: row for row in response.json()["queues"]}
    assert queues["celery"]["depth"] == 0 and queues["celery"]["kind"] == "worker"  # read from Redis
    assert all(isinstance(row["depth"], int) for row in queues.values())

    # --- worker: the Procfile's celery worker line; two real tasks sent from the production venv ------
    worker = procfile_start("worker", env)
    wait_until(
        lambda: log_has(worker, r"ready\.$"), timeout=60, message=lambda: f"the worker is not ready:\n{worker.output()}"
    )
    assert log_has(worker, rf"Connected to redis://(:\*\*@)?127\.0\.0\.1:{urlsplit(env['CELERY_BROKER_URL']).port}/"), (
        worker.output()
    )
    # No broadcast traffic (it breaks first on a large fleet): the worker reports itself in its own row.
    assert {"--without-gossip", "--without-mingle", "--without-heartbeat"} <= set(procfile_line("worker").split())
    assert not log_has(worker, r"mingle|gossip"), worker.output()
    row = wait_until(
        lambda: WorkerProcess.objects.filter(stopped_at=None).first(),
        timeout=60,
        message=lambda: f"the worker never reported itself:\n{worker.output()}",
    )
    assert (row.queues, row.pool, row.concurrency) == ("celery", "prefork", 2)
    Planning.objects.create(full_id="prod.a", planning_id="prod", url=f"{feed_server.url}/ok/prod-a.ics?events=4")
    send = (
        "from django.utils import timezone; from plannings import services; "
        "from plannings.tasks import health_snapshot; health_snapshot.delay(); "
        "print(services.refresh_request(planning_full_id='prod.a', now=timezone.now()))"
    )
    assert _ok(manage(env, "shell", "-c", send), "sending the tasks").splitlines()[-1] == "True"
    wait_until(
        lambda: HealthSnapshot.objects.exists() and PlanningBackup.objects.filter(planning_id="prod.a").exists(),
        timeout=60,
        message=lambda: f"no health snapshot or backup written by the worker:\n{worker.output()}",
    )
    assert len(PlanningBackup.objects.get(planning_id="prod.a").events) == 4
    # The woken drain is over (it reports idle last); from here on nothing else asks for a refresh.
    wait_until(
        lambda: JobRuntime.objects.filter(job_id="plannings-refresh-worker", state="idle").exists(),
        timeout=30,
        message=lambda: f"the refresh worker never went idle: {list(JobRuntime.objects.values())}",
    )

    # --- beat: the Procfile's celery beat line; its scheduled refresh tick drains a queued planning -------
    planning = Planning.objects.create(
        full_id="prod.b", planning_id="prod", url=f"{feed_server.url}/ok/prod-b.ics?events=2"
    )
    PlanningRefreshQueue.objects.create(planning=planning, next_attempt_at=timezone.now())  # queued, no wake-up
    beat = procfile_start("beat", env, **{"--schedule /tmp/celerybeat-schedule": f"--schedule {tmp_path / 'beat'}"})
    wait_until(
        lambda: beat.alive() and PlanningBackup.objects.filter(planning_id="prod.b").exists(),
        timeout=60,
        message=lambda: f"beat's refresh tick never drained prod.b:\n{beat.output()}\n{worker.output()}",
    )
    assert not PlanningRefreshQueue.objects.exists()

    # The web saw the work: the jobs' accounting in Redis counts the tasks the worker ran.
    response = httpx.get(queues_url, headers=bearer, timeout=10)
    assert response.status_code == 200, response.text
    celery = next(row for row in response.json()["queues"] if row["name"] == "celery")
    assert celery["processed_per_sec"] > 0, response.json()
    health = httpx.get(f"{base}/api/ops/plannings", headers={"x-ops-token": env["OPS_TOKEN"]}).json()
    assert health["backups"]["covered"] == 2, health
    for process in (web, worker, beat):
        assert process.alive()
    # The tasks it ran are on its row too (what the Jobs page shows as its last task).
    assert WorkerProcess.objects.get().last_task.startswith("plannings."), list(WorkerProcess.objects.values())
