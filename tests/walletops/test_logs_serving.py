"""The serving model: the Procfile's web line (gunicorn, threaded workers) keeps answering while
live log streams are open, and refuses a stream past its cap rather than run out of threads.

One web process with 4 threads and a cap of 3 streams: three followers hold three threads, and
the health endpoint still answers on the fourth while they stay open; a fourth follower is 429.
With the previous web line (sync workers, one request per process) the first follower alone took
the whole process and the health request waited for it: for ever, as a follow of a ticking
container does not end (600 s idle), so a deadline tells the two apart however loaded the machine.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from scripts.servers.postgres import free_port
from scripts.servers.process import process_stop
from tests.walletops.helpers import START_WAIT, procfile_web_command

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]
WAIT = 60  # a deadline for an answer, not a measure of speed: a busy machine answers seconds late
# gunicorn's start (Django imported by a fresh process) took over 160 s at load 80; a start that
# fails is seen at once (the process ends), so only one that hangs waits this out.
ROOT = Path(__file__).resolve().parents[2]
OPS_TOKEN = "serving-test-token-of-at-least-32-characters"


def test_the_procfile_runs_threaded_workers_with_the_thread_count_settings_read():
    command = procfile_web_command({})
    assert "--worker-class gthread" in command and "--threads 32" in command
    assert procfile_web_command({"WEB_THREADS": "8"}).count("--threads 8") == 1


def test_settings_refuse_a_stream_cap_that_would_take_every_thread(subprocess_env):
    env = {**subprocess_env, "WEB_THREADS": "4", "WALLETOPS_LOG_STREAMS_TOTAL": "4"}
    result = subprocess.run([".venv/bin/python", "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0 and "must stay below WEB_THREADS" in result.stderr


def test_followers_never_starve_the_health_endpoint_under_the_procfiles_gunicorn(subprocess_env, fleet, token_for):
    port = free_port()
    env = {
        **subprocess_env,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "4",
        "WALLETOPS_LOG_STREAMS_TOTAL": "3",
        "WALLETOPS_LOG_STREAMS_PER_USER": "3",
        "WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS": "1",
        "WALLETOPS_DOCKER_HOSTS": f"staging={fleet.staging_url};production={fleet.production_url}",
        "OPS_TOKEN": OPS_TOKEN,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{subprocess_env.get('PATH', '')}",
    }
    command = procfile_web_command(env).replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
    server = subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    health = {"x-ops-token": OPS_TOKEN}
    bearer = {"Authorization": f"Bearer {token_for('read')}"}
    follow = f"{base}/api/v1/admin/ops/containers/wallet-core-staging-runner-abc1234/logs?env=staging&follow=true"
    try:
        limit = time.monotonic() + START_WAIT
        while True:
            try:
                if httpx.get(f"{base}/api/ops/plannings", headers=health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < limit, "gunicorn did not start"
            time.sleep(0.2)
        with httpx.Client(headers=bearer, timeout=httpx.Timeout(WAIT)) as client:
            streams = [client.stream("GET", follow) for _ in range(3)]
            opened = [stream.__enter__() for stream in streams]
            try:
                readers = [response.iter_lines() for response in opened]  # held: a dropped one closes its stream
                for response, reader in zip(opened, readers, strict=True):
                    assert response.status_code == 200
                    next(reader)  # the stream has started: its thread is taken
                answer = httpx.get(f"{base}/api/ops/plannings", headers=health, timeout=WAIT)
                assert answer.status_code == 200
                for reader in readers:
                    next(reader)  # each follower is still open after the answer: it was not waited out
                with httpx.stream("GET", follow, headers=bearer, timeout=WAIT) as refused:  # a 200 would never end
                    assert refused.status_code == 429
                    assert json.loads(refused.read())["code"] == "too_many_streams"
            finally:
                for stream in streams:
                    stream.__exit__(None, None, None)
    finally:
        process_stop(server, timeout=10)
