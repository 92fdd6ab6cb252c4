"""Load on the portal served by gunicorn: 64 concurrent clients, alone and beside a refresh drain.

    python -m bench.load [--plannings 100000] [--duration 60] [--connections 64] [--drain 5000]

Fills a private PostgreSQL with ``--plannings`` plannings (as ``bench.health_endpoint``),
starts a private Redis (the Celery broker and the job accounting), serves the portal
with gunicorn (production-like: 4 sync workers, DEBUG off) and runs ``wrk`` (Debian's
package) with ``--connections`` clients for ``--duration`` seconds on
``GET /api/ops/plannings`` and on ``GET /api/v1/admin/ops/queues``. Then it queues
``--drain`` plannings whose feeds answer after 50 ms from a local feed server, starts
two refresh drain processes (``manage.py plannings_refresh`` in a loop, as two workers
would), and runs the same two loads while they drain. Reported: requests/s, p50 and p99
latency, errors (socket errors and non-2xx), plannings refreshed during each load, and
at the end that every queued planning was refreshed (nothing lost).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, private_postgres_django
from bench.health_endpoint import fill
from bench.refresh_throughput import start_feed_server
from scripts.servers.postgres import free_port
from scripts.servers.process import process_stop
from scripts.servers.redis import PrivateRedis

OPS_TOKEN = "bench-load-ops-token"  # noqa: S105 (a throwaway token of a throwaway server)
WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DJANGO_ENV": "test", "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url, "OPSPORTAL_ACCOUNTING_REDIS_URL": redis_url,
        "OPS_TOKEN": OPS_TOKEN, "JOBS_QUIET_HOURS": "none", "PLANNINGS_REFRESH_BACKOFF_JITTER": "false",
    }  # fmt: skip


def _gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    import httpx

    command = [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "4",
               "--log-level", "warning", "--backlog", "2048"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/ops/plannings", headers={"x-ops-token": OPS_TOKEN}, timeout=5)
            return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process_stop(process)
    raise RuntimeError("gunicorn did not start")


def wrk(url: str, header: str, *, connections: int, duration: int) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s", "-H", header, url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    latency = {int(p): float(v) * UNITS[u] for p, v, u in WRK_LATENCY.findall(out)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = (sum(int(n) for n in socket.groups()) if socket else 0) + (int(non2xx.group(1)) if non2xx else 0)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"requests": requests, "rate": rate, "p50": latency[50], "p99": latency[99], "errors": errors}


def _queue_for_drain(count: int, feeds_url: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE plannings SET url = %s || '/ok/' || md5(full_id) || '.ics?events=40&delay=0.05' "
            "WHERE full_id IN (SELECT full_id FROM plannings ORDER BY full_id LIMIT %s)",
            [feeds_url, count],
        )
        cursor.execute("DELETE FROM plannings_refresh_queue")
        cursor.execute("UPDATE plannings_refresh_state SET disabled_until = NULL")
        cursor.execute(
            "INSERT INTO plannings_refresh_queue (planning_full_id, priority, attempts, requested_at, next_attempt_at) "
            "SELECT full_id, 1, 0, now(), now() FROM plannings ORDER BY full_id LIMIT %s",
            [count],
        )


def _queued() -> int:
    from plannings.models import PlanningRefreshQueue

    return PlanningRefreshQueue.objects.count()


def _drainer(env: dict[str, str], log: Path) -> subprocess.Popen:
    # One refresh worker: drains until the queue is empty, as the Celery task would on each poll.
    loop = "while true; do python manage.py plannings_refresh || exit 1; done"
    with log.open("ab") as out:
        return subprocess.Popen(["bash", "-c", loop], cwd=ROOT, env={**env, "PATH": f"{Path(sys.executable).parent}:"
                                f"{env['PATH']}"}, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _line(label: str, result: dict, extra: str = "") -> str:
    return (f"{label:<44} {result['rate']:>8.0f} req/s  p50 {result['p50']:>7.1f} ms  p99 {result['p99']:>7.1f} ms  "
            f"errors {result['errors']}/{result['requests']}{extra}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plannings", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--drain", type=int, default=5000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    redis = PrivateRedis(Path(tempfile.mkdtemp(prefix="opsportal-bench-redis-")))
    redis.start()
    feed_server, feeds_url = start_feed_server()
    with private_postgres_django() as database_url:
        from opsportal.api.tokens import api_token_create

        fill(database_url, args.plannings)
        env = _env(database_url, redis.url)
        bearer = f"Authorization: Bearer {api_token_create(name='load', scopes=['read']).secret}"
        port = free_port()
        server = _gunicorn(env, port)
        base = f"http://127.0.0.1:{port}"
        loads = [
            ("GET /api/ops/plannings", f"{base}/api/ops/plannings", f"x-ops-token: {OPS_TOKEN}"),
            ("GET /api/v1/admin/ops/queues", f"{base}/api/v1/admin/ops/queues", bearer),
        ]
        drainers = []
        try:
            print(
                f"{args.plannings:,} plannings, {args.connections} clients, {args.duration} s each, gunicorn 4 workers"
            )
            for label, url, header in loads:
                print(_line(label, wrk(url, header, connections=args.connections, duration=args.duration)), flush=True)
            _queue_for_drain(args.drain, feeds_url)
            log = Path(tempfile.mkdtemp(prefix="opsportal-bench-drain-")) / "drain.log"
            drainers = [_drainer(env, log) for _ in range(2)]
            for label, url, header in loads:
                before = _queued()
                result = wrk(url, header, connections=args.connections, duration=args.duration)
                refreshed = before - _queued()
                print(_line(f"{label}, 2 workers draining", result, f"  ({refreshed} plannings refreshed meanwhile)"),
                      flush=True)  # fmt: skip
            deadline = time.monotonic() + 600
            while _queued() and time.monotonic() < deadline:
                time.sleep(1)
            from plannings.models import PlanningBackup

            backups = PlanningBackup.objects.filter(planning__url__startswith=feeds_url).count()
            print(f"drain finished: {_queued()} of {args.drain} still queued; {backups} backups from the feeds")
        finally:
            for drainer in drainers:
                process_stop(drainer)
            process_stop(server)
            feed_server.terminate()
            redis.destroy()


if __name__ == "__main__":
    main()
