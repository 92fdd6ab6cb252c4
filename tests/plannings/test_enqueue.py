"""Enqueue rules (plannings spec §3): the backfill's batch upsert and a user's "refresh now"."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from plannings import services
from plannings.models import PlanningRefreshQueue, PlanningRefreshState
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)
LATER = NOW + timedelta(hours=1)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _row(full_id="s.a") -> PlanningRefreshQueue:
    return PlanningRefreshQueue.objects.get(planning_id=full_id)


def _existing(**fields) -> PlanningRefreshQueue:
    return factories.queue_item_make(factories.planning_make("s.a"), **fields)


def test_a_batch_enqueue_inserts_new_rows_at_backfill_priority():
    factories.plannings_make(3, school="s")
    assert services.refresh_enqueue_batch(planning_full_ids=["s.p0", "s.p1", "s.p2"], now=NOW) == 3
    rows = PlanningRefreshQueue.objects.order_by("planning_id")
    assert [(r.priority, r.attempts, r.requested_at, r.next_attempt_at) for r in rows] == [(1, 0, NOW, NOW)] * 3


def test_a_batch_enqueue_of_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert services.refresh_enqueue_batch(planning_full_ids=[], now=NOW) == 0


def test_a_batch_enqueue_keeps_the_higher_priority_and_the_earlier_attempt():
    _existing(priority=10, requested_at=EARLIER, next_attempt_at=LATER, attempts=3)
    services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW)
    row = _row()
    assert (row.priority, row.requested_at, row.next_attempt_at, row.attempts) == (10, NOW, NOW, 3)


def test_a_batch_enqueue_raises_a_lower_priority_but_never_above_100():
    _existing(priority=0, next_attempt_at=EARLIER)
    services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW, priority=5)
    assert (_row().priority, _row().next_attempt_at) == (5, EARLIER)
    services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW, priority=250)
    assert _row().priority == 100


@pytest.mark.parametrize("last_error", ["http_404", "http_410", "max_attempts"])
def test_a_batch_enqueue_leaves_parked_rows_alone(last_error):
    _existing(priority=0, requested_at=EARLIER, next_attempt_at=LATER, last_error=last_error)
    services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW, priority=50)
    row = _row()
    assert (row.priority, row.requested_at, row.next_attempt_at, row.last_error) == (0, EARLIER, LATER, last_error)


def test_a_batch_enqueue_reschedules_a_row_parked_by_a_transient_error():
    _existing(priority=0, requested_at=EARLIER, next_attempt_at=LATER, last_error="http_5xx")
    services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW)
    assert (_row().priority, _row().next_attempt_at) == (1, NOW)


def test_a_batch_enqueue_wakes_the_refresh_worker_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("plannings.tasks.refresh_poll.apply_async", lambda **kwargs: sent.append(kwargs))
    factories.planning_make("s.a")
    with django_capture_on_commit_callbacks(execute=True):
        services.refresh_enqueue_batch(planning_full_ids=["s.a"], now=NOW)
    assert sent == [{"kwargs": {"wake": True}, "retry": False}]


def test_one_name_wakes_the_worker_and_services_only_announce_work():
    """``tasks.refresh_worker_wake`` is the one receiver that wakes the worker; services announce
    (``refresh_work_available``) and define no wake-up of their own under the same name."""
    from plannings import signals, tasks

    assert not hasattr(services, "refresh_worker_wake")
    sync_receivers, async_receivers = signals.refresh_queue_changed._live_receivers(sender=None)
    assert (sync_receivers, async_receivers) == ([tasks.refresh_worker_wake], [])


def test_a_user_request_re_enables_the_planning_and_queues_it_first():
    planning = factories.planning_make("s.a")
    factories.disabled_state_make(planning, until=LATER, kind="http_4xx", consecutive_failures=7, last_error="http_404")
    factories.queue_item_make(planning, priority=1, next_attempt_at=LATER, last_error="http_404")
    assert services.refresh_request(planning_full_id="s.a", now=NOW) is True
    row = _row()
    assert (row.priority, row.requested_at, row.next_attempt_at, row.last_error) == (10, NOW, NOW, None)
    state = PlanningRefreshState.objects.get()
    assert (state.disabled_until, state.consecutive_failures, state.last_failure_kind, state.last_error) == (
        None,
        0,
        None,
        None,
    )


def test_a_user_request_creates_the_row_and_state_when_missing():
    factories.planning_make("s.a")
    assert services.refresh_request(planning_full_id="s.a", now=NOW) is True
    assert _row().priority == 10
    assert PlanningRefreshState.objects.get().disabled_until is None


def test_user_requests_are_throttled_to_one_per_30_seconds(frozen_now):
    factories.planning_make("s.a")
    assert services.refresh_request(planning_full_id="s.a", now=NOW) is True
    PlanningRefreshState.objects.update(disabled_until=LATER)
    assert services.refresh_request(planning_full_id="s.a", now=NOW + timedelta(seconds=29)) is False
    assert PlanningRefreshState.objects.get().disabled_until == LATER  # a throttled request changes nothing
    assert services.refresh_request(planning_full_id="s.a", now=NOW + timedelta(seconds=31)) is True
    assert PlanningRefreshState.objects.get().disabled_until is None


def test_a_higher_priority_request_is_not_throttled():
    _existing(priority=1, requested_at=NOW)
    assert services.refresh_request(planning_full_id="s.a", now=NOW) is True
    assert _row().priority == 10
