"""``GET /api/ops/plannings`` at scale, against upstream PlanningSup's own health SQL.

    python -m bench.health_endpoint [--sizes 100000,1000000] [--repeat 30] [--rounds 3]
    python -m bench.health_endpoint --sizes 100000,1000000,10000000 --dashboard   # make bench-10m

For each size, fills a private PostgreSQL with plannings (80 % backed up, 30 %
queued, 8 % disabled; ``bench.fill``: triggers bypassed, side tables rebuilt), then
measures in the same run:
  * the portal's endpoint over HTTP (gunicorn, one sync worker), p50;
  * upstream's five health statements (the "Baseline" of spec §7), p50; they read every
    row, so past 100,000 plannings a round calls them fewer times (said in the output);
  * SQL statements per request;
  * with --dashboard, in process: the health payload, the dashboard page and the plannings
    panel (p50 and statements), so one 10,000,000-row fill serves all the flat reads.
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


# Upstream's statements read every row: 2 s a call at 1,000,000 plannings, tens of seconds at
# 10,000,000 on the shared machine. Past 100,000, each round calls them fewer times (at least 3),
# so the bench does not spend its time there.
BASELINE_FULL_REPEAT_UP_TO = 100_000


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


# With --dashboard: the pages that show the health figures, in process (as bench.dashboard measures
# them, without the plannings change list, which bench.dashboard measures).
DASHBOARD_PAGES = ("/admin/ops/", "/admin/ops/panels/plannings/")


def dashboard_client():
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.create_superuser("bench", "bench@example.test", "bench"))
    return client


def payload_p50(repeat: int) -> float:
    from plannings.health import health_report
    from plannings.web.serializers import health_json

    return p50_ms(lambda: health_json(health_report()), repeat=repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per size; their median is reported")
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="also the health payload, the dashboard page and the plannings panel in process, with their statements",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.dashboard:
        from bench.dashboard import _measure  # before Django starts: it points Docker and Prometheus at closed ports
    result, firsts = [], {}
    with private_postgres_django() as url:
        port = free_port()
        server = start_gunicorn(url, port)
        client = dashboard_client() if args.dashboard else None
        try:
            for n in sizes:
                filled = fill(url, n)
                repeat = baseline_repeat(n, args.repeat)
                if repeat < args.repeat:
                    print(f"upstream's five statements: {repeat} calls a round at {n:,} plannings, not {args.repeat}")
                endpoints, baselines, payloads = [], [], []
                pages = {page: [] for page in DASHBOARD_PAGES} if client else {}
                statements = {}
                for _ in range(args.rounds):  # all interleaved: each round's figures share its noise
                    endpoints.append(endpoint_p50(port, args.repeat))
                    baselines.append(baseline_p50(url, repeat, warmup=3 if repeat == args.repeat else 1))
                    if client:
                        payloads.append(payload_p50(args.repeat))
                        for page in pages:
                            p50, statements[page] = _measure(client, page, args.repeat)
                            pages[page].append(p50)
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
                flat = {"endpoint": endpoint}
                if client:
                    flat["health payload in process"] = measured(f"health payload p50, {n:,} plannings", payloads, "ms")
                    figures.append(flat["health payload in process"])
                    for page, p50s in pages.items():
                        flat[page] = measured(f"{page} p50, {n:,} plannings", p50s, "ms")
                        figures += [
                            flat[page],
                            measured(f"{page} SQL statements, {n:,} plannings", [statements[page]], "statements"),
                        ]
                for name, figure in flat.items():
                    if name in firsts:
                        figures.append(
                            ratio(f"{name} p50 {n:,} / {sizes[0]:,} plannings", figure, firsts[name], goal_max=2.0)
                        )
                    else:
                        firsts[name] = figure
                print(table(figures), flush=True)
                result += figures
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"written to {record('health_endpoint', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
