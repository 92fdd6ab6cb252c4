"""The refresh queue's row states and the backfill's stale/disabled/queued rules, read the same everywhere.

A grid of rows around every boundary (attempts at max - 1 and max, a lock just
younger, exactly as old and just older than the TTL, due a second ago, now and in a
second): the admin filters, the health counts (``coverage_figures``, raw SQL), the
rows the worker's claim takes (raw SQL), the dead-row sweep and the operator's
actions must all agree with the one rule written out below.
"""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
import time_machine
from django.conf import settings
from django.db import transaction

from opsportal.lib.actors import Actor
from plannings import admin as plannings_admin
from plannings import jobs, operator_actions, selectors, services
from plannings.models import LOCK_TTL_SECONDS, Planning, PlanningRefreshQueue, PlanningRefreshState
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CLI = Actor.cli("tests")
CUTOFF = NOW - timedelta(seconds=LOCK_TTL_SECONDS)
SECOND = timedelta(seconds=1)
pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _rolled_back(action):
    """Run ``action`` in a transaction that is then undone; return what it returned."""
    box = []
    try:
        with transaction.atomic():
            box.append(action())
            raise _Rollback
    except _Rollback:
        pass
    return box[0]


def _filtered(filter_class, model, value, queryset=None) -> set[str]:
    chosen = filter_class(None, {filter_class.parameter_name: [value]}, model, None)
    rows = chosen.queryset(None, queryset if queryset is not None else model.objects.all())
    return set(rows.values_list("pk", flat=True))


# --- The queue grid ---------------------------------------------------------------------

MAX = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
ATTEMPTS = (0, MAX - 1, MAX)
LOCKS = {"none": None, "expired": CUTOFF - SECOND, "ttl": CUTOFF, "older_ok": CUTOFF + SECOND, "now": NOW}
NEXT = {"past": NOW - SECOND, "now": NOW, "future": NOW + SECOND}


@pytest.fixture
def queue_grid() -> dict[str, dict]:
    rows = {}
    for attempts, (lock_name, locked_at), (next_name, next_at) in product(ATTEMPTS, LOCKS.items(), NEXT.items()):
        full_id = f"grid.a{attempts}-{lock_name}-{next_name}"
        planning = factories.planning_make(full_id)
        factories.queue_item_make(
            planning,
            attempts=attempts,
            locked_at=locked_at,
            lock_owner="someone" if locked_at else None,
            next_attempt_at=next_at,
        )
        live = locked_at is not None and locked_at >= CUTOFF
        alive = attempts < MAX
        due = next_at <= NOW
        rows[full_id] = {"alive": alive, "due": due, "live": live, "has_lock": locked_at is not None}
    return rows


def _where(rows: dict[str, dict], rule) -> set[str]:
    return {full_id for full_id, row in rows.items() if rule(row)}


def _expected(rows):
    return {
        "ready": _where(rows, lambda r: r["alive"] and r["due"] and not r["live"]),
        "waiting": _where(rows, lambda r: r["alive"] and not r["due"] and not r["live"]),
        "locked": _where(rows, lambda r: r["alive"] and r["live"]),
        "dead": _where(rows, lambda r: not r["alive"]),
    }


def test_the_grid_covers_every_state(queue_grid):
    expected = _expected(queue_grid)
    assert all(expected.values())
    # The four states split the queue: every row is in exactly one.
    assert sum(map(len, expected.values())) == len(queue_grid)
    assert set().union(*expected.values()) == set(queue_grid)


def test_the_admin_queue_state_filter_is_the_rule(queue_grid):
    for state, ids in _expected(queue_grid).items():
        assert _filtered(plannings_admin.QueueStateFilter, PlanningRefreshQueue, state) == ids, state


def test_the_admin_status_columns_are_the_rule_in_the_filter_s_words(queue_grid):
    """The plannings list's status and the queue list's state restated the states by hand (a dead row with
    a live lock read "locked" there and "dead" in the filter and the health counts)."""
    from plannings.models import QUEUE_STATE_LABELS

    for state, ids in _expected(queue_grid).items():
        for row in PlanningRefreshQueue.objects.filter(pk__in=ids):
            assert plannings_admin.queue_status(row, None, NOW) == QUEUE_STATE_LABELS[state], row.pk
    filter_words = dict(plannings_admin.QueueStateFilter(None, {}, PlanningRefreshQueue, None).lookup_choices)
    assert {state: label.lower() for state, label in filter_words.items()} == QUEUE_STATE_LABELS


def test_the_queryset_methods_are_the_rule(queue_grid):
    def ids(rows) -> set[str]:
        return set(rows.values_list("pk", flat=True))

    rows = PlanningRefreshQueue.objects
    assert ids(rows.ready(now=NOW, max_attempts=MAX)) == _expected(queue_grid)["ready"]
    assert ids(rows.with_lock()) == _where(queue_grid, lambda r: r["has_lock"])
    assert ids(rows.in_backoff(now=NOW, max_attempts=MAX)) == _where(queue_grid, lambda r: r["alive"] and not r["due"])
    assert ids(rows.sweepable(now=NOW, max_attempts=MAX)) == _where(
        queue_grid, lambda r: not r["alive"] and not r["live"]
    )
    live = {row.pk for row in rows.all() if row.lock_is_live(NOW)}
    assert live == _where(queue_grid, lambda r: r["live"])


def test_the_health_counts_are_the_rule(queue_grid):
    expected = _expected(queue_grid)
    figures = selectors.coverage_figures(now=NOW, max_attempts=MAX)
    assert (figures.depth, figures.ready, figures.locked) == (
        len(queue_grid) - len(expected["dead"]),
        len(expected["ready"]),
        len(expected["locked"]),
    )
    assert figures.total == len(queue_grid)
    assert figures.covered == 0


def test_the_claim_takes_exactly_the_ready_rows(queue_grid):
    claimed = _rolled_back(lambda: services.refresh_queue_claim(owner="claimer", limit=1000, now=NOW, max_attempts=MAX))
    assert {item.planning_full_id for item in claimed} == _expected(queue_grid)["ready"]


def test_the_sweep_takes_dead_rows_without_a_live_lock(queue_grid):
    def sweep():
        swept = services.refresh_dead_rows_sweep(now=NOW, limit=1000, max_attempts=MAX)
        return swept, set(queue_grid) - set(PlanningRefreshQueue.objects.values_list("pk", flat=True))

    swept, gone = _rolled_back(sweep)
    expected = _where(queue_grid, lambda r: not r["alive"] and not r["live"])
    assert (swept, gone) == (len(expected), expected)


def test_the_planning_ready_and_locked_filters(queue_grid):
    assert _filtered(plannings_admin.PlanningReadyFilter, Planning, "yes") == _expected(queue_grid)["ready"]
    # "locked" is any live claim, a last attempt's included (what "release lock" acts on).
    assert _filtered(plannings_admin.PlanningLockedFilter, Planning, "yes") == _where(queue_grid, lambda r: r["live"])
    assert _filtered(plannings_admin.PlanningQueuedFilter, Planning, "yes") == set(queue_grid)


def _matching(**filters) -> set[str]:
    return set(selectors.plannings_matching(filters=filters, now=NOW).values_list("full_id", flat=True))


def test_the_api_filters_are_the_admin_filters_on_the_queue(queue_grid):
    # The API's bulk actions select with ``selectors.plannings_matching``: the same rows as the lists.
    for name, filter_class in (
        ("ready", plannings_admin.PlanningReadyFilter),
        ("locked", plannings_admin.PlanningLockedFilter),
        ("queued", plannings_admin.PlanningQueuedFilter),
    ):
        for value, word in ((True, "yes"), (False, "no")):
            assert _matching(**{name: value}) == _filtered(filter_class, Planning, word), (name, word)


def test_the_operator_actions_pick_their_rows(queue_grid):
    ids = list(queue_grid)
    released = _rolled_back(
        lambda: operator_actions.plannings_release_locks(planning_full_ids=ids, actor=CLI).changed_count
    )
    assert released == len(_where(queue_grid, lambda r: r["has_lock"]))

    def retry():
        moved = operator_actions.plannings_retry_now(planning_full_ids=ids, now=NOW, actor=CLI).changed_count
        due_now = set(PlanningRefreshQueue.objects.filter(next_attempt_at=NOW).values_list("pk", flat=True))
        return moved, due_now

    moved, due_now = _rolled_back(retry)
    # Backoff: alive and not yet due, whatever its lock.
    in_backoff = _where(queue_grid, lambda r: r["alive"] and not r["due"])
    assert moved == len(in_backoff)
    assert in_backoff <= due_now


# --- The backfill grid: backups, disables, queue rows --------------------------------------

STALE_BEFORE = NOW - timedelta(hours=settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS)
BACKUPS = {"missing": None, "stale": STALE_BEFORE - SECOND, "edge": STALE_BEFORE, "fresh": NOW}
DISABLES = {"never": "none", "expired": NOW - SECOND, "until_now": NOW, "disabled": NOW + SECOND}


@pytest.fixture
def planning_grid() -> dict[str, dict]:
    rows = {}
    for (backup_name, backup_at), (disable_name, until), queued in product(
        BACKUPS.items(), DISABLES.items(), (False, True)
    ):
        full_id = f"h{backup_name}{disable_name}.b-{backup_name}-{disable_name}-{'q' if queued else 'nq'}"
        planning = factories.planning_make(full_id)
        if backup_at is not None:
            factories.backup_make(planning, updated_at=backup_at)
        if until != "none":
            factories.state_make(planning, disabled_until=until, last_failure_kind="timeout")
        if queued:
            factories.queue_item_make(planning, next_attempt_at=NOW + timedelta(hours=1))
        rows[full_id] = {
            "missing": backup_at is None,
            "stale": backup_at is not None and backup_at < STALE_BEFORE,
            "disabled": until != "none" and until > NOW,
            "queued": queued,
        }
    return rows


def test_the_backfill_selects_missing_and_stale_plannings_neither_disabled_nor_queued(planning_grid):
    missing, stale = jobs.backfill_select(now=NOW)
    eligible = lambda r: not r["disabled"] and not r["queued"]  # noqa: E731
    assert set(missing) == _where(planning_grid, lambda r: r["missing"] and eligible(r))
    assert set(stale) == _where(planning_grid, lambda r: r["stale"] and eligible(r))


def test_the_admin_stale_filter_is_the_backfill_rule(planning_grid):
    stale_or_missing = _where(planning_grid, lambda r: r["missing"] or r["stale"])
    assert _filtered(plannings_admin.PlanningStaleFilter, Planning, "yes") == stale_or_missing
    assert _filtered(plannings_admin.PlanningStaleFilter, Planning, "due") == _where(
        planning_grid, lambda r: (r["missing"] or r["stale"]) and not r["disabled"] and not r["queued"]
    )
    assert _filtered(plannings_admin.PlanningStaleFilter, Planning, "no") == set(planning_grid) - stale_or_missing
    assert _filtered(plannings_admin.PlanningQueuedFilter, Planning, "no") == _where(
        planning_grid, lambda r: not r["queued"]
    )


def test_the_api_filters_are_the_admin_filters_on_the_catalog(planning_grid):
    for value in ("yes", "due", "no"):
        assert _matching(stale=value) == _filtered(plannings_admin.PlanningStaleFilter, Planning, value)
    for value, word in ((True, "yes"), (False, "no")):
        assert _matching(disabled=value) == _filtered(plannings_admin.PlanningDisabledFilter, Planning, word)
    assert _matching(host="hmissingnever", queued=False) == {"hmissingnever.b-missing-never-nq"}


def test_disabled_is_one_rule_for_the_admin_and_the_health_reads(planning_grid):
    disabled = _where(planning_grid, lambda r: r["disabled"])
    assert _filtered(plannings_admin.PlanningDisabledFilter, Planning, "yes") == disabled
    assert _filtered(plannings_admin.StateDisabledFilter, PlanningRefreshState, "yes") == disabled
    assert sum(host.count for host in selectors.disabled_hosts(now=NOW)) == len(disabled)
    recent = selectors.recent_failures(now=NOW, limit=1000)
    assert {state.planning_id for state in recent} == disabled


def test_re_enable_acts_on_disabled_plannings_only(planning_grid):
    ids = list(planning_grid)
    reenabled = _rolled_back(
        lambda: operator_actions.plannings_reenable(planning_full_ids=ids, now=NOW, actor=CLI).changed_count
    )
    assert reenabled == len(_where(planning_grid, lambda r: r["disabled"]))
