"""The refresh worker's outcome table (plannings spec §4), each row produced by a real local server."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from plannings import jobs
from plannings.jobs import DrainLimits
from plannings.models import JobsSharedState, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OWNER = "test-worker"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _limits(**overrides) -> DrainLimits:
    values = {"batch_size": 50, "concurrency": 2, "per_host": 2, "budget": timedelta(seconds=60), "max_attempts": 10}
    return DrainLimits(**{**values, **overrides})


def _queued(host, path: str, full_id: str = "school.group.leaf", **queue_fields):
    planning = factories.planning_make(full_id, url=f"{host.url}{path}")
    queue_fields.setdefault("next_attempt_at", NOW - timedelta(seconds=1))
    factories.queue_item_make(planning, **queue_fields)
    return planning


def _drain(**limits) -> jobs.DrainResult:
    return jobs.refresh_drain(owner=OWNER, limits=_limits(**limits))


def _state(full_id="school.group.leaf") -> PlanningRefreshState:
    return PlanningRefreshState.objects.get(planning_id=full_id)


def _queue_row(full_id="school.group.leaf") -> PlanningRefreshQueue | None:
    return PlanningRefreshQueue.objects.filter(planning_id=full_id).first()


def test_a_success_writes_the_backup_deletes_the_row_and_resets_the_state(feed_host):
    planning = _queued(feed_host, "/ok/a.ics?events=12")
    factories.state_make(planning, consecutive_failures=4, last_failure_kind="timeout", last_error="timeout")
    result = _drain()
    assert (result.claimed, result.succeeded) == (1, 1)
    backup = PlanningBackup.objects.get(planning=planning)
    assert len(backup.events) == 12
    assert _queue_row() is None
    state = _state()
    assert (state.disabled_until, state.consecutive_failures, state.last_failure_kind, state.last_error) == (
        None,
        0,
        None,
        None,
    )
    assert state.last_attempt_at == state.last_success_at == NOW
    shared = JobsSharedState.objects.get()
    assert (shared.last_write_planning_full_id, shared.last_write_changed, shared.last_write_nb_events) == (
        "school.group.leaf",
        True,
        12,
    )


def test_zero_events_is_a_success(feed_host):
    _queued(feed_host, "/ok/empty-calendar.ics?events=0")
    assert _drain().succeeded == 1
    assert PlanningBackup.objects.get().events == []


def test_refreshing_an_unchanged_feed_does_not_rewrite_the_backup(feed_host, frozen_now):
    planning = _queued(feed_host, "/ok/same.ics?events=5")
    _drain()
    first = PlanningBackup.objects.get().updated_at
    frozen_now.shift(timedelta(hours=7))
    factories.queue_item_make(planning, next_attempt_at=NOW)
    _drain()
    assert PlanningBackup.objects.get().updated_at == first
    assert JobsSharedState.objects.get().last_write_changed is False


@pytest.mark.parametrize(("status", "disabled_for"), [(404, timedelta(days=30)), (403, timedelta(days=7))])
def test_a_client_error_disables_at_once(feed_host, status, disabled_for):
    _queued(feed_host, f"/status/{status}/feed")
    result = _drain()
    assert result.outcomes == {f"http_{status}:disabled": 1}
    assert _queue_row() is None
    state = _state()
    assert state.disabled_until == NOW + disabled_for
    assert (state.consecutive_failures, state.last_failure_kind, state.last_error) == (1, "http_4xx", f"http_{status}")


@pytest.mark.parametrize(
    ("path", "kind", "base"),
    [
        ("/status/500/feed", "http_5xx", timedelta(seconds=5)),
        ("/slow/feed.ics?delay=3", "timeout", timedelta(seconds=10)),
        ("/empty/feed", "invalid_body", timedelta(seconds=60)),
        ("/html/feed", "invalid_body", timedelta(seconds=60)),
        ("/garbage/feed", "parse_error", timedelta(seconds=60)),
        ("/drop/feed", "network_error", timedelta(seconds=5)),
        ("/429/feed?retry-after=1", "http_429", timedelta(seconds=5)),  # Retry-After shorter than the backoff
    ],
)
def test_a_retryable_failure_backs_off_and_unlocks_the_row(feed_host, path, kind, base):
    _queued(feed_host, path, attempts=2)  # this claim is attempt 3: backoff = base x 4
    result = _drain()
    assert result.outcomes == {f"{kind}:retry": 1}
    row = _queue_row()
    assert (row.attempts, row.locked_at, row.lock_owner, row.last_error) == (3, None, None, kind)
    assert row.next_attempt_at == NOW + base * 4
    state = _state()
    assert (state.disabled_until, state.consecutive_failures, state.last_failure_kind) == (None, 1, kind)


def test_a_refused_connection_backs_off_from_30_seconds():
    from scripts.servers.postgres import free_port

    planning = factories.planning_make("school.group.leaf", url=f"http://127.0.0.1:{free_port()}/feed.ics")
    factories.queue_item_make(planning, next_attempt_at=NOW)
    assert _drain().outcomes == {"connection_refused:retry": 1}
    assert _queue_row().next_attempt_at == NOW + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("120", timedelta(seconds=120)), ("Tue, 10 Mar 2026 12:30:00 GMT", timedelta(minutes=30))],
)
def test_429_waits_at_least_retry_after(feed_host, retry_after, expected):
    from urllib.parse import quote

    _queued(feed_host, f"/429/feed?retry-after={quote(retry_after)}")
    _drain()
    assert _queue_row().next_attempt_at == NOW + expected


def test_backoff_is_capped_at_ten_minutes(feed_host):
    _queued(feed_host, "/status/500/feed", attempts=8)  # 5 s x 2^8 = 21 min
    _drain()
    assert _queue_row().next_attempt_at == NOW + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("path", "kind", "disabled_for"),
    [
        ("/status/500/feed", "http_5xx", timedelta(hours=6)),
        ("/garbage/feed", "parse_error", timedelta(hours=24)),
        ("/empty/feed", "invalid_body", timedelta(hours=24)),
        ("/slow/feed.ics?delay=3", "timeout", timedelta(hours=6)),
    ],
)
def test_the_last_attempt_disables_for_the_kind_interval(feed_host, path, kind, disabled_for):
    planning = _queued(feed_host, path, attempts=9)
    factories.state_make(planning, consecutive_failures=3)
    assert _drain().outcomes == {f"{kind}:disabled": 1}
    assert _queue_row() is None
    state = _state()
    assert state.disabled_until == NOW + disabled_for
    assert (state.last_failure_kind, state.last_error) == (kind, "max_attempts")
    assert state.consecutive_failures == 10  # max(attempt, old + 1)


def test_the_last_attempt_keeps_a_higher_failure_count(feed_host):
    planning = _queued(feed_host, "/status/500/feed", attempts=9)
    factories.state_make(planning, consecutive_failures=25)
    _drain()
    assert _state().consecutive_failures == 26


def test_a_refused_connection_at_the_last_attempt_disables_for_12_hours():
    from scripts.servers.postgres import free_port

    planning = factories.planning_make("school.group.leaf", url=f"http://127.0.0.1:{free_port()}/x")
    factories.queue_item_make(planning, attempts=9, next_attempt_at=NOW)
    _drain()
    assert _state().disabled_until == NOW + timedelta(hours=12)


def test_an_unexpected_exception_backs_off_from_30_seconds_as_a_network_error(feed_host, monkeypatch):
    # A parser crash cannot be provoked by a well-behaved library on demand; this one stands in.
    def crash(body, *, zone):
        raise RuntimeError("parser bug")

    monkeypatch.setattr("plannings.feeds.feed_parse", crash)
    _queued(feed_host, "/ok/a.ics", attempts=1)
    assert _drain().outcomes == {"unexpected:retry": 1}
    row = _queue_row()
    assert row.next_attempt_at == NOW + timedelta(seconds=60)  # 30 s x 2^(2-1)
    assert row.last_error == "RuntimeError: parser bug"
    assert _state().last_failure_kind == "network_error"


def test_an_unexpected_exception_at_the_last_attempt_disables_for_6_hours_as_max_attempts(feed_host, monkeypatch):
    monkeypatch.setattr("plannings.feeds.feed_parse", lambda body, *, zone: 1 / 0)
    _queued(feed_host, "/ok/a.ics", attempts=9)
    _drain()
    state = _state()
    assert state.disabled_until == NOW + timedelta(hours=6)
    assert (state.last_failure_kind, state.last_error) == ("max_attempts", "max_attempts")


def test_a_planning_without_a_url_is_dropped_from_the_queue():
    planning = factories.planning_make("school.group.leaf", url=None)
    factories.queue_item_make(planning, next_attempt_at=NOW)
    assert _drain().outcomes == {"forgotten": 1}
    assert _queue_row() is None


def test_rows_are_claimed_by_priority_then_age_and_locked_or_dead_rows_are_skipped(feed_host):
    old, new, user = (
        _queued(feed_host, "/ok/a.ics", "s.old", priority=1, requested_at=NOW - timedelta(hours=1)),
        _queued(feed_host, "/ok/b.ics", "s.new", priority=1, requested_at=NOW),
        _queued(feed_host, "/ok/c.ics", "s.user", priority=10, requested_at=NOW),
    )
    _queued(feed_host, "/ok/d.ics", "s.locked", locked_at=NOW - timedelta(minutes=1), lock_owner="other")
    _queued(feed_host, "/ok/e.ics", "s.dead", attempts=10)
    _queued(feed_host, "/ok/f.ics", "s.later", next_attempt_at=NOW + timedelta(seconds=1))
    from plannings.services import refresh_queue_claim

    claimed = refresh_queue_claim(owner=OWNER, limit=10, now=NOW, max_attempts=10)
    assert [item.planning_full_id for item in claimed] == [user.pk, old.pk, new.pk]
    assert [item.attempt for item in claimed] == [1, 1, 1]
    assert set(PlanningRefreshQueue.objects.filter(lock_owner=OWNER).values_list("planning_id", flat=True)) == {
        user.pk,
        old.pk,
        new.pk,
    }
    assert refresh_queue_claim(owner="second", limit=10, now=NOW, max_attempts=10) == []


def test_a_dead_lock_is_claimed_again(feed_host):
    _queued(feed_host, "/ok/a.ics", locked_at=NOW - timedelta(minutes=5, seconds=1), lock_owner="crashed", attempts=1)
    assert _drain().succeeded == 1


def test_a_worker_whose_lock_was_taken_over_does_not_touch_the_new_owners_row(feed_host):
    from plannings import services

    _queued(feed_host, "/status/500/feed")
    (item,) = services.refresh_queue_claim(owner="slow-worker", limit=1, now=NOW, max_attempts=10)
    PlanningRefreshQueue.objects.update(lock_owner="new-owner")  # its lock expired and another claimed it
    failure = services.AttemptFailure(kind="http_5xx", last_error="http_5xx")
    services.refresh_item_failed(item=item, owner="slow-worker", failure=failure, now=NOW)
    row = _queue_row()
    assert (row.lock_owner, row.next_attempt_at) == ("new-owner", NOW - timedelta(seconds=1))


def test_a_failure_answers_a_typed_outcome_naming_what_became_of_the_row(feed_host):
    from plannings.services import AttemptFailure, FailedOutcome, refresh_item_failed, refresh_queue_claim

    _queued(feed_host, "/status/500/a", "s.retry")
    _queued(feed_host, "/status/404/b", "s.gone")
    _queued(feed_host, "/ok/c.ics", "s.bug", attempts=9)
    items = {
        item.planning_full_id: item for item in refresh_queue_claim(owner=OWNER, limit=3, now=NOW, max_attempts=10)
    }
    outcomes = {
        "s.retry": refresh_item_failed(
            item=items["s.retry"], owner=OWNER, failure=AttemptFailure("http_5xx", "http_5xx", status=500), now=NOW
        ),
        "s.gone": refresh_item_failed(
            item=items["s.gone"], owner=OWNER, failure=AttemptFailure("http_4xx", "http_404", status=404), now=NOW
        ),
        "s.bug": refresh_item_failed(
            item=items["s.bug"], owner=OWNER, failure=AttemptFailure("network_error", "bug", unexpected=True), now=NOW
        ),
    }
    assert outcomes == {
        "s.retry": FailedOutcome.RETRY,
        "s.gone": FailedOutcome.DISABLED,
        "s.bug": FailedOutcome.DISABLED,
    }
    assert all(isinstance(outcome, FailedOutcome) for outcome in outcomes.values())
    assert set(PlanningRefreshQueue.objects.values_list("planning_id", flat=True)) == {"s.retry"}
    assert _state("s.bug").last_failure_kind == "max_attempts"  # unexpected, out of attempts: never a 4xx's disable


def test_per_host_concurrency_is_a_real_limit(feed_host):
    for index in range(6):
        _queued(feed_host, f"/ok/p{index}.ics?delay=0.3", f"s.p{index}")
    _drain(concurrency=4, per_host=1)
    assert feed_host.max_in_flight == 1
    feed_host.reset()
    for index in range(6):
        _queued(feed_host, f"/ok/q{index}.ics?delay=0.3", f"s.q{index}")
    result = _drain(concurrency=3, per_host=3)
    assert result.succeeded == 6
    assert feed_host.max_in_flight == 3


def test_a_drain_keeps_claiming_batches_until_the_queue_is_empty(feed_host):
    for index in range(7):
        _queued(feed_host, f"/ok/b{index}.ics?events=2", f"s.b{index}")
    result = _drain(batch_size=3)
    assert (result.claimed, result.succeeded) == (7, 7)
    assert not PlanningRefreshQueue.objects.exists()


def test_the_drain_budget_stops_claiming(feed_host, settings):
    settings.CURL_TIMEOUT = 5_000  # the slow feed must answer, not time out
    for index in range(4):
        _queued(feed_host, f"/ok/s{index}.ics?delay=1.5", f"s.s{index}")
    # A budget a loaded machine cannot spend before the first claim, but the first feed outlasts it.
    result = _drain(batch_size=1, concurrency=1, budget=timedelta(seconds=1))
    assert result.claimed == 1  # the budget is spent during the first batch
    assert PlanningRefreshQueue.objects.count() == 3


def test_a_batch_of_plannings_without_a_url_does_not_end_the_drain(feed_host):
    for index in range(2):
        factories.queue_item_make(factories.planning_make(f"school.group.nourl{index}", url=""), priority=10,
                                  next_attempt_at=NOW - timedelta(seconds=1))  # fmt: skip
    _queued(feed_host, "/ok/after.ics?events=3", "school.group.after", priority=1)
    result = _drain(batch_size=2)
    assert (result.claimed, result.succeeded, result.outcomes["forgotten"]) == (3, 1, 2)
    assert not PlanningRefreshQueue.objects.exists()
