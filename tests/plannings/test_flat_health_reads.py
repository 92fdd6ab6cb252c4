"""The health figures that depend on the time stay exact when read from the trigger-kept side tables.

Random queue rows and refresh states around a fixed minute (every attempts count, locks on
both sides of the TTL, due and disabled times in past, current and future minutes, to the
microsecond), written through inserts, updates, deletes and a truncate; then, with the
clock moved by time_machine to instants inside and around those minutes, every figure of
the health report equals a direct count of the mirrored tables by the rules of
``plannings.models``. On PostgreSQL the statements must also not read the mirrored
tables beyond the current minute's rows (EXPLAIN ANALYZE).
"""

import json
import random
from datetime import datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plannings import selectors
from plannings.health import TOP_N, health_report
from plannings.models import (
    Planning,
    PlanningRefreshQueue,
    PlanningRefreshState,
    q_disabled,
    queue_states,
)
from plannings.selectors import FAILURES_WINDOW
from plannings.web.serializers import health_json
from tests.plannings.side_table_rows import NOW, around, near, rows_fill, rows_rewrite

pytestmark = pytest.mark.django_db


def _direct(now: datetime) -> dict:
    """The figures counted straight from the mirrored tables, by the one rule of plannings.models."""
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    states = queue_states(now, max_attempts)
    queue = PlanningRefreshQueue.objects
    ready = queue.filter(states["ready"])
    disabled = PlanningRefreshState.objects.filter(q_disabled(now))
    hosts = {}
    for state in disabled:
        host = state.planning_id.split(".", 1)[0]
        count, kinds = hosts.get(host, (0, set()))
        hosts[host] = (count + 1, kinds | {state.last_failure_kind})
    return {
        "depth": queue.filter(states["ready"] | states["waiting"] | states["locked"]).count(),
        "ready": ready.count(),
        "locked": queue.filter(states["locked"]).count(),
        "oldest_ready_at": ready.aggregate(oldest=Min("next_attempt_at"))["oldest"],
        "hosts": sorted(
            (
                (host, count, max((k for k in kinds if k is not None), default=None))
                for host, (count, kinds) in hosts.items()
            ),
            key=lambda row: (-row[1], row[0]),
        ),
        "recent": [s.pk for s in disabled.order_by("-updated_at", "planning_id")[:TOP_N]],
        **_failures_direct(now),
    }


def _failures_direct(now: datetime) -> dict:
    """The dashboard's failure figures, from every row, in Python."""
    per_host: dict[str, list[int]] = {}
    for planning in Planning.objects.all():
        if planning.url:
            per_host.setdefault(planning.full_id.split(".", 1)[0], [0, 0])[0] += 1
    kinds: dict[str, list] = {}
    for state in PlanningRefreshState.objects.filter(last_failure_kind__isnull=False):
        per_host.setdefault(state.planning_id.split(".", 1)[0], [0, 0])[1] += 1
        if state.last_attempt_at and now - FAILURES_WINDOW < state.last_attempt_at <= now:
            label = state.last_failure_kind
            if label == "http_4xx" and (state.last_error or "").startswith("http_4"):
                label = state.last_error
            figures = kinds.setdefault(label, [0, state.last_attempt_at])
            figures[0] += 1
            figures[1] = max(figures[1], state.last_attempt_at)
    ever: dict[str, int] = {}
    for state in PlanningRefreshState.objects.filter(last_failure_kind__isnull=False):
        label = state.last_failure_kind
        if label == "http_4xx" and (state.last_error or "").startswith("http_4"):
            label = state.last_error
        ever[label] = ever.get(label, 0) + 1
    return {
        "kinds_ever": sorted(ever.items(), key=lambda row: (-row[1], row[0])),
        "hosts_failing": sorted((host, f, n) for host, (f, n) in per_host.items()),
        "by_kind": sorted(((k, n, at) for k, (n, at) in kinds.items()), key=lambda row: (-row[1], row[0])),
    }


def _kept(now: datetime) -> dict:
    coverage = selectors.coverage_figures(now=now, max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)
    return {
        "depth": coverage.depth,
        "ready": coverage.ready,
        "locked": coverage.locked,
        "oldest_ready_at": coverage.oldest_ready_at,
        "hosts": [(h.host, h.count, h.last_failure) for h in selectors.disabled_hosts(now=now)],
        "recent": [s.pk for s in selectors.recent_failures(now=now, limit=TOP_N)],
        "hosts_failing": _hosts_failing(selectors.failing_feeds()),
        "by_kind": [(k.kind, k.count, k.last_at) for k in selectors.failures_by_kind(now=now)],
        "kinds_ever": [(k.value, k.count) for k in selectors.failure_kind_counts()],
    }


def _hosts_failing(feeds: selectors.FailingFeeds) -> list[tuple[str, int, int]]:
    """Every host the figures name (with a feed, or failing), with its feeds and failing states."""
    hosts = {(h.host, h.feeds, h.failing) for h in feeds.by_host + feeds.failing_hosts}
    assert feeds.feeds == sum(h[1] for h in hosts) and feeds.failing == sum(h[2] for h in hosts)
    return sorted(hosts)


def _instants(rng: random.Random) -> list[datetime]:
    minute = NOW.replace(second=0)
    fixed = [NOW, minute, minute - timedelta(microseconds=1), minute + timedelta(seconds=59, microseconds=999_999)]
    fixed.append(NOW - timedelta(minutes=9))  # before every due time: nothing ready
    fixed += [near(rng) for _ in range(8)]  # inside the rows' own seconds
    return fixed + [around(rng, 10) for _ in range(12)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_time_dependent_figure_equals_a_direct_count_at_any_instant(seed):
    rng = random.Random(seed)
    plannings = rows_fill(rng, 300)
    rows_rewrite(rng, plannings)
    seen = []
    for instant in _instants(rng):
        with time_machine.travel(instant, tick=False):
            now = timezone.now()
            direct, kept = _direct(now), _kept(now)
            assert kept == direct, instant
            seen.append(direct)
            report = health_json(health_report(now=now))
            assert report["queue"] == {"depth": direct["depth"], "ready": direct["ready"], "locked": direct["locked"]}
            json.dumps(report)
    # The data does exercise every time-dependent figure, at different values (depth does not move).
    for figure in ("ready", "locked", "oldest_ready_at", "hosts", "recent", "by_kind"):
        assert len({repr(direct[figure]) for direct in seen}) > 1, figure


def test_a_truncate_empties_the_figures():
    rng = random.Random(4)
    rows_fill(rng, 50)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM plannings_refresh_queue"
            if connection.vendor == "sqlite"
            else "TRUNCATE plannings_refresh_queue, plannings_refresh_state"
        )
        cursor.execute("DELETE FROM plannings_refresh_state")
    kept = _kept(NOW)
    assert kept == _direct(NOW)
    assert kept["depth"] == kept["ready"] == kept["locked"] == 0 and kept["oldest_ready_at"] is None
    assert kept["hosts"] == kept["recent"] == kept["by_kind"] == []
    assert kept["hosts_failing"] and all(failing == 0 for _, _, failing in kept["hosts_failing"])


def _rows_read(plan: dict, tables: set[str]) -> int:
    read = 0
    if plan.get("Relation Name") in tables:
        read += plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1) + plan.get("Rows Removed by Filter", 0)
    return read + sum(_rows_read(child, tables) for child in plan.get("Plans", []))


@pytest.mark.postgres_only
def test_the_health_statements_do_not_read_the_queued_or_disabled_rows():
    """3,000 queued and disabled rows, none in the current minute: each statement reads a handful of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO plannings (full_id, planning_id) SELECT 'h' || (i %% 20) || '.p' || i, 'h'
               FROM generate_series(1, 3000) AS i;
               INSERT INTO plannings_refresh_queue (planning_full_id, attempts, next_attempt_at, locked_at)
               SELECT 'h' || (i %% 20) || '.p' || i, i %% 12, %s::timestamptz - (i %% 600) * interval '1 minute',
                      CASE WHEN i %% 50 = 0 THEN %s::timestamptz - interval '1 minute' END
               FROM generate_series(1, 3000) AS i;
               INSERT INTO plannings_refresh_state (planning_full_id, disabled_until, last_failure_kind, updated_at)
               SELECT 'h' || (i %% 20) || '.p' || i, %s::timestamptz + (1 + i %% 600) * interval '1 minute', 'timeout',
                      %s::timestamptz - i * interval '1 second'
               FROM generate_series(1, 3000) AS i;
               ANALYZE plannings_refresh_queue; ANALYZE plannings_refresh_state;""",
            [NOW.replace(second=0)] * 4,
        )
    with CaptureQueriesContext(connection) as queries:
        report = health_report(now=NOW)
    assert report.queue.depth > 2000 and report.backups.disabled == 3000
    mirrored = {"plannings_refresh_queue", "plannings_refresh_state"}
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        assert _rows_read(plan[0]["Plan"], mirrored) <= 20, query["sql"]  # a handful, not 3,000


@pytest.mark.postgres_only
def test_the_dashboards_failure_figures_do_not_read_the_plannings_or_their_states():
    """3,000 feeds failing within the hour, none in its edge minutes: no planning or state row is read."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO plannings (full_id, planning_id, url) SELECT 'h' || (i %% 20) || '.p' || i, 'h', 'u'
               FROM generate_series(1, 3000) AS i;
               INSERT INTO plannings_refresh_state (planning_full_id, last_failure_kind, last_attempt_at)
               SELECT 'h' || (i %% 20) || '.p' || i, (ARRAY['timeout', 'parse_error'])[1 + i %% 2],
                      %s::timestamptz - (1 + i %% 50) * interval '1 minute'
               FROM generate_series(1, 3000) AS i;
               ANALYZE plannings; ANALYZE plannings_refresh_state; ANALYZE opsportal_failing_state;""",
            [NOW.replace(second=0)],
        )
    with CaptureQueriesContext(connection) as queries:
        feeds = selectors.failing_feeds()
        kinds = selectors.failures_by_kind(now=NOW)
        assert sum(kind.count for kind in selectors.failure_kind_counts()) == 3000
    assert (feeds.feeds, feeds.failing, sum(kind.count for kind in kinds)) == (3000, 3000, 3000)
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        assert _rows_read(plan[0]["Plan"], {"plannings", "plannings_refresh_state"}) == 0, query["sql"]
        assert _rows_read(plan[0]["Plan"], {"opsportal_failing_state"}) <= 2 * len(kinds), query["sql"]


@pytest.mark.postgres_only
def test_no_health_or_dashboard_statement_is_jit_compiled_whatever_the_estimates():
    """At 10,000,000 plannings the planner's estimates passed jit_above_cost: compiling cost ~270 ms of a
    statement that ran in under 1 ms. Here every statement's estimate passes it (the thresholds at 0)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'on', true)")
        setting = cursor.fetchone()[0]
        cursor.execute("SELECT pg_jit_available(), set_config('jit', %s, true)", [setting])
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no JIT (llvmjit not installed)")
        cursor.execute("SELECT set_config('jit_above_cost', '0', true), set_config('jit_inline_above_cost', '0', true)")
    with CaptureQueriesContext(connection) as queries:
        health_report(now=NOW)
        selectors.failing_feeds()
        selectors.failures_by_kind(now=NOW)
        selectors.failure_kind_counts()
    assert len(queries.captured_queries) >= 8
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        assert "JIT" not in plan[0], query["sql"]
