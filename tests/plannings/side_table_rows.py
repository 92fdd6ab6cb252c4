"""Random mirrored rows around a fixed minute, written through inserts, updates, deletes and cascades as the
services and psql write them: what the side-table triggers must keep exact (tests/plannings/test_flat_health_reads.py,
test_rebuild_side_tables.py)."""

import random
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection

from plannings.models import LOCK_TTL, Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState
from plannings.selectors import FAILURES_WINDOW

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
HOSTS = ("alpha", "beta", "gamma", "nodot")
KINDS = (None, "timeout", "http_4xx", "parse_error")


def around(rng: random.Random, spread_minutes: int = 8) -> datetime:
    return NOW + timedelta(microseconds=rng.randint(-spread_minutes * 60_000_000, spread_minutes * 60_000_000))


def near(rng: random.Random, at: datetime = NOW) -> datetime:
    """Within a second and a half of ``at``: the current second and its neighbours."""
    return at + timedelta(microseconds=rng.randint(-1_500_000, 1_500_000))


def rows_fill(rng: random.Random, count: int) -> list[Planning]:
    plannings = Planning.objects.bulk_create(
        Planning(
            full_id=f"{host}.p{i}" if host != "nodot" else f"nodot{i}",
            planning_id=host,
            url=rng.choice([None, "", f"https://x.test/{i}", f"https://x.test/{i}"]),
        )
        for i, host in ((i, rng.choice(HOSTS)) for i in range(count))
    )
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    PlanningRefreshQueue.objects.bulk_create(
        PlanningRefreshQueue(
            planning=p,
            attempts=rng.randint(0, max_attempts + 1),
            next_attempt_at=rng.choice([around(rng), around(rng), near(rng)]),
            locked_at=rng.choice([None, None, NOW - LOCK_TTL, around(rng) - LOCK_TTL, around(rng, 2)]),
        )
        for p in plannings
        if rng.random() < 0.7
    )
    PlanningRefreshState.objects.bulk_create(
        PlanningRefreshState(
            planning=p,
            disabled_until=rng.choice([None, around(rng), around(rng, 1), NOW, near(rng)]),
            last_failure_kind=rng.choice(KINDS),
            last_error=rng.choice([None, "http_404", "http_410", "timeout after 10 s"]),
            last_attempt_at=rng.choice(
                [
                    None,
                    around(rng, 90),
                    around(rng, 2),
                    NOW - FAILURES_WINDOW,
                    near(rng),
                    near(rng, NOW - FAILURES_WINDOW),
                ]
            ),
            consecutive_failures=rng.randint(0, 12),
            updated_at=around(rng, 600),
        )
        for p in plannings
        if rng.random() < 0.8
    )
    PlanningBackup.objects.bulk_create(
        PlanningBackup(planning=p, events=[], signature="s", updated_at=around(rng, 600))
        for p in plannings
        if rng.random() < 0.6
    )
    return plannings


def rows_rewrite(rng: random.Random, plannings: list[Planning]) -> None:
    """Updates (a claim's lock, a backoff, a re-enable), deletes and cascades, as the services and psql do."""
    ids = [p.pk for p in plannings]
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 15)).update(locked_at=NOW - timedelta(seconds=3))
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 15)).update(next_attempt_at=around(rng))
    PlanningRefreshQueue.objects.filter(pk__in=rng.sample(ids, 10)).delete()
    PlanningRefreshState.objects.filter(pk__in=rng.sample(ids, 15)).update(disabled_until=None, last_failure_kind=None)
    PlanningRefreshState.objects.filter(pk__in=rng.sample(ids, 15)).update(last_attempt_at=around(rng, 1))
    Planning.objects.filter(pk__in=rng.sample(ids, 15)).update(url="")
    PlanningRefreshState.objects.filter(pk__in=rng.sample(ids, 15)).update(
        disabled_until=around(rng, 1), last_failure_kind="http_500", updated_at=around(rng, 600)
    )
    # Backups taken, written again (the worker's upsert), deleted, and one moved to a planning without one.
    backed = set(PlanningBackup.objects.values_list("pk", flat=True))
    without = [pk for pk in ids if pk not in backed]
    PlanningBackup.objects.bulk_create(
        PlanningBackup(planning_id=pk, events=[], signature="new", updated_at=NOW) for pk in without[:10]
    )
    PlanningBackup.objects.filter(pk__in=rng.sample(sorted(backed), 10)).update(signature="again", updated_at=NOW)
    PlanningBackup.objects.filter(pk__in=rng.sample(sorted(backed), 10)).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE plannings_backup SET planning_full_id = %s WHERE planning_full_id = %s",
            [without[-1], PlanningBackup.objects.order_by("pk").values_list("pk", flat=True).first()],
        )
        cursor.execute("DELETE FROM plannings WHERE full_id IN (%s, %s, %s)", rng.sample(ids, 3))
