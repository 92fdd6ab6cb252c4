"""``GET /api/ops/plannings`` at scale, against upstream PlanningSup's own health SQL.

    python -m bench.health_endpoint [--sizes 100000,1000000] [--repeat 30] [--rounds 3]
    python -m bench.health_endpoint --sizes 100000,1000000,10000000   # make bench-10m

For each size, fills a private PostgreSQL with plannings (80 % backed up, 30 %
queued, 8 % disabled; ``bench.fill``: triggers bypassed, side tables rebuilt), then
measures in the same run:
  * the portal's endpoint over HTTP (gunicorn, one sync worker), p50;
  * upstream's five health statements (the "Baseline" of spec §7), p50; they read every
    row, so past 1,000,000 plannings a round calls them fewer times (said in the output);
  * SQL statements per request.
The ratio endpoint / baseline is what the README reports: both sides share the
machine's noise. Each size's fill time is printed, and the endpoint's p50 at each size
against the first (the goal: at most 2x at 100x the plannings); var/bench/health_endpoint.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import time

import psycopg

from bench.common import ROOT, p50_ms, private_postgres_django
from bench.figures import measured, ratio, record, table
from bench.fill import fill  # noqa: F401  (bench.dashboard and bench.load fill through here)
from scripts.servers.postgres import free_port

# Upstream PlanningSup's health statements (apps/api/src/routes/ops.ts), verbatim in substance.
BASELINE_SQL = [
    """SELECT count(*) FILTER (WHERE attempts < 10)::int,
              count(*) FILTER (WHERE next_attempt_at <= now() AND attempts < 10
                               AND (locked_at IS NULL OR locked_at < now() - 5 * interval '1 minute'))::int,
              count(*) FILTER (WHERE locked_at IS NOT NULL
                               AND locked_at >= now() - 5 * interval '1 minute' AND attempts < 10)::int
       FROM plannings_refresh_queue""",
    """SELECT count(*)::int, count(b.planning_full_id)::int
       FROM plannings p LEFT JOIN plannings_backup b ON b.planning_full_id = p.full_id""",
    "SELECT count(*) FILTER (WHERE disabled_until > now())::int FROM plannings_refresh_state",
    """SELECT split_part(planning_full_id, '.', 1), count(*)::int, max(last_failure_kind)
       FROM plannings_refresh_state WHERE disabled_until > now()
       GROUP BY split_part(planning_full_id, '.', 1) ORDER BY count(*) DESC LIMIT 5""",
    """SELECT planning_full_id, last_failure_kind, consecutive_failures, disabled_until
       FROM plannings_refresh_state WHERE disabled_until > now() ORDER BY updated_at DESC LIMIT 5""",
]


# Upstream's statements read every row: seconds a call at 10,000,000 plannings. Past a million,
# each round calls them fewer times (at least 3), so the bench does not spend its time there.
BASELINE_FULL_REPEAT_UP_TO = 1_000_000


def baseline_repeat(n: int, repeat: int) -> int:
    if n <= BASELINE_FULL_REPEAT_UP_TO:
        return repeat
    return max(3, repeat * BASELINE_FULL_REPEAT_UP_TO // n)


def baseline_p50(url: str, repeat: int, *, warmup: int = 3) -> float:
    with psycopg.connect(url, autocommit=True) as conn:

        def run():
            for statement in BASELINE_SQL:
                conn.execute(statement).fetchall()

        return p50_ms(run, repeat=repeat, warmup=warmup)


def start_gunicorn(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_ENV": "test", "OPS_TOKEN": "bench-token"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "opsportal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def endpoint_p50(port: int, repeat: int) -> float:
    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/ops/plannings", headers={"x-ops-token": "bench-token"})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"endpoint answered {response.status}: {body[:200]!r}")

    return p50_ms(run, repeat=repeat)


def statements_per_request() -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from plannings.health import health_report

    with CaptureQueriesContext(connection) as queries:
        health_report()
    return len(queries.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per size; their median is reported")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    result = []
    with private_postgres_django() as url:
        port = free_port()
        server = start_gunicorn(url, port)
        try:
            first = None
            for n in sizes:
                filled = fill(url, n)
                repeat = baseline_repeat(n, args.repeat)
                if repeat < args.repeat:
                    print(f"upstream's five statements: {repeat} calls a round at {n:,} plannings, not {args.repeat}")
                endpoints, baselines = [], []
                for _ in range(args.rounds):  # the two interleaved: both share each round's noise
                    endpoints.append(endpoint_p50(port, args.repeat))
                    baselines.append(baseline_p50(url, repeat, warmup=3 if repeat == args.repeat else 1))
                endpoint = measured(f"GET /api/ops/plannings p50, {n:,} plannings", endpoints, "ms")
                calls = "" if repeat == args.repeat else f" ({repeat} calls a round)"
                baseline = measured(f"upstream's five statements p50, {n:,} plannings{calls}", baselines, "ms")
                figures = [
                    *filled,
                    endpoint,
                    baseline,
                    ratio(f"endpoint / upstream, {n:,} plannings", endpoint, baseline),
                    measured(f"SQL statements per request, {n:,} plannings", [statements_per_request()], "statements"),
                ]
                if first is None:
                    first = endpoint
                else:
                    figures.append(ratio(f"endpoint p50 {n:,} / {sizes[0]:,} plannings", endpoint, first, goal_max=2.0))
                print(table(figures), flush=True)
                result += figures
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"written to {record('health_endpoint', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
