"""The Audit list, the audit API, the Alerts page, the alerts API and the deploy timeline at scale.

    python -m bench.audit_alerts [--audit 100000,10000000] [--alerts 100000,1000000] [--repeat 9] [--rounds 3]

Fills a private PostgreSQL with audit rows and closed alerts in one ``INSERT ... SELECT FROM
generate_series`` each (timed: the fill, the audit's GIN indexes built again after it, and the ``VACUUM
ANALYZE``), at the first size of each,
measures, tops both up to their second size and measures again. Measured in process through Django's test
client (a logged-in superuser for the admin pages, a read token for the API), p50 and SQL statements of:
  * the Audit list, bare, with each of its filters and a search by an object's id, page 1 and a page deep in;
  * ``GET /api/v1/admin/ops/audit``, first page, each filter, and a cursor page 20 pages deep;
  * the Alerts page, bare, with each of its filters, and a page deep in;
  * ``GET /api/v1/admin/ops/alerts``, first page, ``open=1``, and a cursor page 20 pages deep;
  * the deploy timeline (which merges the alerts fired and resolved, and the portal's audit rows):
    its first page and a page 20 pages deep.
The audit rows need no valid hash chain: no read measured checks it (``audit_verify`` does, not timed).
Goal: each p50 within 2x of the same at the first size, with the same number of statements.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

import psycopg

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, ratio, record, table

os.environ.update(
    WALLETOPS_DOCKER_HOSTS=f"staging=unix://{tempfile.gettempdir()}/no-docker-here.sock",
    WALLETOPS_DEPLOY_INFO_PATH=f"{tempfile.gettempdir()}/no-deploy-info.json",
)

# Row g of the largest size's ``total`` (its id for the audit) is at END - (total - g) * step: 3 s apart for
# the audit (10,000,000 rows: about a year), 30 s for the alerts. The first size is the newest rows (the
# highest g); the top-up writes the older ones below them, so ids grow with time as the chain's do.
END = datetime(2026, 12, 1, tzinfo=UTC)
STEP_SECONDS = 3
ACTIONS = (
    "alerts.acknowledge", "auth.login", "auth.logout", "container.health_check", "container.restart", "jobs.pause",
    "jobs.resume", "jobs.run_backfill", "plannings.refresh_now", "plannings.reenable", "plannings.retry_now",
    "token.create", "token.revoke", "auth.user.change", "alerts.mute",
)  # fmt: skip
ACTORS = 50
TARGETS = 50_000  # an object's history: TARGETS apart (2 rows at 100,000, 200 at 10,000,000)

AUDIT_FILL = """
INSERT INTO audit_event (id, created_at, actor, via, token_name, action, target_type, targets, target_count,
                         changed, outcome, detail, changes, prev_hash, row_hash)
SELECT g, %(end)s::timestamptz - (%(total)s::bigint - g) * %(step)s::int * interval '1 second',
       'user-' || (g %% %(actors)s::int),
       (ARRAY['portal', 'api', 'cli'])[1 + g %% 3],
       CASE WHEN g %% 3 = 1 THEN 'grafana' ELSE '' END,
       (%(actions)s::text[])[1 + g %% %(n_actions)s::int],
       'planning',
       jsonb_build_array('planning-' || (g %% %(targets)s::int)),
       1, NULL,
       CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 10 = 0 THEN 'refused' ELSE 'ok' END,
       '', '{}'::jsonb,
       md5((g - 1)::text) || md5((g - 1)::text), md5(g::text) || md5(g::text)
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
"""

# Closed alerts over the rules the migrations seeded: 80 % resolved (fired), 15 % ok (never fired), 5 % gone;
# one in 50 flapped, one in 20 was acknowledged. Started 30 s apart, newest at END.
ALERTS_FILL = """
INSERT INTO alerts_alert (rule_id, target, state, is_open, message, started_at, fired_at, last_evaluated_at,
                          resolved_at, flapping, held, acknowledged_at, acknowledged_by, ack_comment, track)
SELECT rules.ids[1 + g %% array_length(rules.ids, 1)],
       'target-' || (g %% 500),
       CASE WHEN g %% 20 < 16 THEN 'resolved' WHEN g %% 20 < 19 THEN 'ok' ELSE 'gone' END,
       false, 'bench', t, CASE WHEN g %% 20 < 16 THEN t + interval '2 minutes' END, t + interval '10 minutes',
       t + interval '10 minutes', g %% 50 = 0, false,
       CASE WHEN g %% 20 = 0 THEN t + interval '5 minutes' END,
       CASE WHEN g %% 20 = 0 THEN 'ana' ELSE '' END, '', '{}'::jsonb
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
     (SELECT array_agg(id ORDER BY id) AS ids FROM alerts_rule) AS rules,
     LATERAL (SELECT %(end)s::timestamptz - (%(total)s::bigint - g) * interval '30 seconds' AS t) AS at
"""


def fill(url: str, sql: str, start: int, stop: int, total: int, **params) -> tuple[float, float]:
    """Rows ``start..stop`` (1-based) of a table of ``total``; returns the seconds of the insert and of
    the VACUUM ANALYZE after it."""
    values = {"start": start, "stop": stop, "total": total, "end": END, **params}
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(sql, values)
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE audit_event")
        conn.execute("VACUUM ANALYZE alerts_alert")
        return inserted, time.perf_counter() - started


def audit_fill(url: str, start: int, stop: int, total: int) -> tuple[float, float, float]:
    """Returns the seconds of the insert, of the GIN indexes' rebuild and of the VACUUM ANALYZE."""
    # The search's GIN indexes (0005_search_indexes) are dropped for the insert and built again after it, as
    # a bulk load would: kept, each of ten million rows' trigrams went through them one insert at a time.
    with psycopg.connect(url, autocommit=True) as conn:
        gin = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_event' AND indexdef LIKE '%USING gin%'"
        ).fetchall()
        for name, _ in gin:
            conn.execute(f"DROP INDEX {name}")
    params = dict(step=STEP_SECONDS, actors=ACTORS, actions="{" + ",".join(ACTIONS) + "}",
                  n_actions=len(ACTIONS), targets=TARGETS)  # fmt: skip
    inserted, _ = fill(url, AUDIT_FILL, start, stop, total, **params)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for _, definition in gin:
            conn.execute(definition)
        indexed = time.perf_counter() - started
        # A later audit_record continues the ids.
        conn.execute("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), (SELECT max(id) FROM audit_event))")
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE audit_event")
        return inserted, indexed, time.perf_counter() - started


def _measure(client, url: str, repeat: int, **headers) -> tuple[float, int]:
    from django.db import connection

    def get():
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.content[:300]!r}")

    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        get()
    return p50_ms(get, repeat=repeat), len(statements)


def _deep(client, url: str, pages: int, **headers) -> str:
    """The URL of the page ``pages`` pages after the first, following each page's ``next``."""
    for _ in range(pages):
        url = client.get(url, **headers).json()["next"]
    return url.split("testserver", 1)[-1].split("127.0.0.1", 1)[-1]


def _timeline(kind: str, repeat: int) -> tuple[float, int]:
    from django.db import connection

    from walletops.deploys import timeline

    filters = timeline.Filters(service="wallet-core", destination="production")
    cursor = None
    if kind == "deep":
        for _ in range(20):
            cursor = timeline.Cursor.decode(timeline.timeline_page(filters, cursor=cursor, limit=50)[1])
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        timeline.timeline_page(filters, cursor=cursor, limit=50)
    return p50_ms(lambda: timeline.timeline_page(filters, cursor=cursor, limit=50), repeat=repeat), len(statements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audit", default="100000,10000000", help="audit rows: first size, then second")
    parser.add_argument("--alerts", default="100000,1000000", help="closed alerts: first size, then second")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per page; their median is reported")
    args = parser.parse_args()
    audit_sizes = [int(size) for size in args.audit.split(",")]
    alert_sizes = [int(size) for size in args.alerts.split(",")]
    result, first = [], {}
    with private_postgres_django() as url:
        from django.contrib.auth.models import User
        from django.test import Client

        from opsportal.api.tokens import api_token_create

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.create_superuser("bench", "bench@example.test", "bench"))
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(name='bench', scopes=['read']).secret}"}
        audit_total, alerts_total = audit_sizes[-1], alert_sizes[-1]
        audit_done = alerts_done = 0
        for step, (n_audit, n_alerts) in enumerate(zip(audit_sizes, alert_sizes, strict=True)):
            a_start, a_stop = audit_total - n_audit + 1, audit_total - audit_done
            audit_fill_s, audit_gin_s, audit_vacuum_s = audit_fill(url, a_start, a_stop, audit_total)
            l_start, l_stop = alerts_total - n_alerts + 1, alerts_total - alerts_done
            alerts_fill_s, alerts_vacuum_s = fill(url, ALERTS_FILL, l_start, l_stop, alerts_total)
            audit_done, alerts_done = n_audit, n_alerts
            label = f"{n_audit:,} audit rows, {n_alerts:,} closed alerts"
            figures = [
                measured(f"fill {a_stop - a_start + 1:,} audit rows", [audit_fill_s], "s"),
                measured(f"GIN indexes rebuilt after it ({n_audit:,} audit rows)", [audit_gin_s], "s"),
                measured(f"VACUUM ANALYZE after it ({n_audit:,} audit rows)", [audit_vacuum_s], "s"),
                measured(f"fill {l_stop - l_start + 1:,} closed alerts", [alerts_fill_s], "s"),
                measured(f"VACUUM ANALYZE after it ({n_alerts:,} alerts)", [alerts_vacuum_s], "s"),
            ]
            print(table(figures), flush=True)
            result += figures
            week_ago = (END - timedelta(days=7)).strftime("%Y-%m-%d")
            day = (END - timedelta(days=1)).strftime("%Y-%m-%d")
            api = "/api/v1/admin/ops/audit"
            alerts_api = "/api/v1/admin/ops/alerts"
            admin_pages = [
                "/admin/audit/auditevent/",
                "/admin/audit/auditevent/?p=20",
                "/admin/audit/auditevent/?action=container.restart",
                "/admin/audit/auditevent/?action=jobs.",
                "/admin/audit/auditevent/?via__exact=api",
                "/admin/audit/auditevent/?outcome__exact=failed",
                f"/admin/audit/auditevent/?created_at__gte={week_ago}&created_at__lt={END:%Y-%m-%d}",
                "/admin/audit/auditevent/?q=planning-1234",
                "/admin/alerts/alert/",
                "/admin/alerts/alert/?p=20",
                "/admin/alerts/alert/?is_open__exact=0",
                "/admin/alerts/alert/?state__exact=resolved",
                "/admin/alerts/alert/?flapping__exact=1",
                "/admin/alerts/alert/?acknowledged_at__isempty=0",
            ]
            api_pages = [
                api,
                f"{api}?actor=user-7",
                f"{api}?action=container.restart",
                f"{api}?action=jobs.",
                f"{api}?outcome=failed",
                f"{api}?target=planning-1234",
                f"{api}?since={day}T00:00:00Z",
                _deep(client, api, 20, **bearer),
                alerts_api,
                f"{alerts_api}?open=1",
                _deep(client, alerts_api, 20, **bearer),
            ]
            names = {api_pages[7]: f"{api} 20 pages deep", api_pages[10]: f"{alerts_api} 20 pages deep"}
            pages = [(page, {}) for page in admin_pages] + [(page, bearer) for page in api_pages]
            pages += [("timeline first page", None), ("timeline 20 pages deep", None)]
            p50s, statements = {page: [] for page, _ in pages}, {}
            for _ in range(args.rounds):
                for page, headers in pages:
                    if headers is None:
                        p50, statements[page] = _timeline("deep" if "deep" in page else "first", args.repeat)
                    else:
                        p50, statements[page] = _measure(client, page, args.repeat, **headers)
                    p50s[page].append(p50)
            figures = []
            for page, _ in pages:
                name = names.get(page, page)
                figure = measured(f"{name} p50, {label}", p50s[page], "ms")
                figures += [figure, measured(f"{name} SQL statements, {label}", [statements[page]], "statements")]
                if step:
                    figures.append(ratio(f"{name} p50 / first size", figure, first[name], goal_max=2.0))
                else:
                    first[name] = figure
            print(table(figures), flush=True)
            result += figures
    print(f"written to {record('audit_alerts', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
