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
from datetime import UTC, datetime, timedelta

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
    LOCK_TTL,
    Planning,
    PlanningRefreshQueue,
    PlanningRefreshState,
    q_disabled,
    queue_states,
)
from plannings.web.serializers import health_json

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
HOSTS = ("alpha", "beta", "gamma", "nodot")
KINDS = (None, "timeout", "http_404", "parse_error")
pytestmark = pytest.mark.django_db


def _around(rng: random.Random, spread_minutes: int = 8) -> datetime:
    return NOW + timedelta(microseconds=rng.randint(-spread_minutes * 60_000_000, spread_minutes * 60_000_000))


def _fill(rng: random.Random, count: int) -> list[Planning]:
    plannings = Planning.objects.bulk_create(
        Planning(full_id=f"{host}.p{i}" if host != "nodot" else f"nodot{i}", planning_id=host)
        for i, host in ((i, rng.choice(HOSTS)) for i in range(count))
    )
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    PlanningRefreshQueue.objects.bulk_create(
        PlanningRefreshQueue(
            planning=p,
            attempts=rng.randint(0, max_attempts + 1),
            next_attempt_at=_around(rng),
            locked_at=rng.choice([None, None, NOW - LOCK_TTL, _around(rng) - LOCK_TTL, _around(rng, 2)]),
        )
        for p in plannings
        if rng.random() < 0.7
    )
    PlanningRefreshState.objects.bulk_create(
        PlanningRefreshState(
            planning=p,
            disabled_until=rng.choice([None, _around(rng), _around(rng, 1), NOW]),
            last_failure_kind=rng.choice(KINDS),
            consecutive_failures=rng.randint(0, 12),
            updated_at=_around(rng, 600),
        )
        for p in plannings
        if rng.random() < 0.8
    )
    return plannings


def _rewrite(rng: random.Random, plannings: list[Planning]) -> None:
    """Updates (a claim's lock, a backoff, a re-enable), deletes and cascades, as the services and psql do."""
    ids = [p.pk for p in plannings]
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 15)).update(locked_at=NOW - timedelta(seconds=3))
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 15)).update(next_attempt_at=_around(rng))
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 10)).delete()
    PlanningRefreshState.objects.filter(pk__in=rng.sample(ids, 15)).update(disabled_until=None)
    PlanningRefreshState.objects.filter(pk__in=rng.sample(ids, 15)).update(
        disabled_until=_around(rng, 1), last_failure_kind="http_500", updated_at=_around(rng, 600)
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM plannings WHERE full_id IN (%s, %s, %s)", rng.sample(ids, 3))


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
    }


def _instants(rng: random.Random) -> list[datetime]:
    minute = NOW.replace(second=0)
    fixed = [NOW, minute, minute - timedelta(microseconds=1), minute + timedelta(seconds=59, microseconds=999_999)]
    return fixed + [_around(rng, 10) for _ in range(12)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_time_dependent_figure_equals_a_direct_count_at_any_instant(seed):
    rng = random.Random(seed)
    plannings = _fill(rng, 300)
    _rewrite(rng, plannings)
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
    for figure in ("ready", "locked", "oldest_ready_at", "hosts", "recent"):
        assert len({repr(direct[figure]) for direct in seen}) > 1, figure


def test_a_truncate_empties_the_figures():
    rng = random.Random(4)
    _fill(rng, 50)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM plannings_refresh_queue"
            if connection.vendor == "sqlite"
            else "TRUNCATE plannings_refresh_queue, plannings_refresh_state"
        )
        cursor.execute("DELETE FROM plannings_refresh_state")
    assert (
        _kept(NOW)
        == _direct(NOW)
        == {"depth": 0, "ready": 0, "locked": 0, "oldest_ready_at": None, "hosts": [], "recent": []}
    )


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
        assert _rows_read(plan[0]["Plan"], mirrored) <= 2 * TOP_N, query["sql"]
