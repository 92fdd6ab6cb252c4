"""Fault: a feed server dies in the middle of a body (promises 100 kB, sends a line, closes).

Already covered elsewhere, not repeated here:

- ``tests/plannings/test_feeds.py::test_each_failure_kind_comes_from_real_server_behaviour[/drop/x-...]``:
  the failure kind is ``network_error``;
- ``tests/plannings/test_refresh_worker.py::test_a_retryable_failure_backs_off_and_unlocks_the_row[/drop/feed-...]``:
  the queue row stays queued, unlocked, with the 5 s × 2^(attempt-1) backoff, and the
  state records ``network_error``.

What this adds: nothing half-written. A planning that already had a backup keeps it
byte for byte (events, signature, time), one that had none gets none, and the good
feeds drained in the same batch get whole backups; the dying feed's row waits for
its retry and its state says why.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from plannings import jobs
from plannings.backups import events_signature
from plannings.jobs import DrainLimits
from plannings.models import JobsSharedState, Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState
from tests import factories

pytestmark = pytest.mark.django_db
LIMITS = DrainLimits(batch_size=10, concurrency=2, per_host=2, budget=timedelta(seconds=30), max_attempts=10)


def _enqueue(*plannings: Planning) -> None:
    for planning in plannings:
        factories.queue_item_make(planning, next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_feed_dying_mid_body_writes_no_half_backup_and_retries_later(feed_host):
    had = factories.planning_make("drop.had-backup", url=f"{feed_host.url}/ok/had.ics?events=7")
    _enqueue(had)
    assert jobs.refresh_drain(owner="first", limits=LIMITS).succeeded == 1
    before = PlanningBackup.objects.get(planning=had)
    assert len(before.events) == 7 and before.signature == events_signature(before.events)

    Planning.objects.filter(pk=had.pk).update(url=f"{feed_host.url}/drop/had")  # its server now dies mid-body
    never = factories.planning_make("drop.never", url=f"{feed_host.url}/drop/never")
    good = [factories.planning_make(f"drop.good{i}", url=f"{feed_host.url}/ok/good{i}.ics?events=4") for i in range(3)]
    _enqueue(had, never, *good)
    started = timezone.now()
    result = jobs.refresh_drain(owner="second", limits=LIMITS)

    assert feed_host.requests["/drop/had"] == feed_host.requests["/drop/never"] == 1
    assert result.outcomes == {"success": 3, "network_error:retry": 2}
    after = PlanningBackup.objects.get(planning=had)  # the old backup, untouched
    assert (after.events, after.signature, after.updated_at) == (before.events, before.signature, before.updated_at)
    assert not PlanningBackup.objects.filter(planning=never).exists()
    for planning in good:
        backup = PlanningBackup.objects.get(planning=planning)
        assert len(backup.events) == 4 and backup.signature == events_signature(backup.events)
    assert JobsSharedState.objects.get().last_write_planning_full_id.startswith("drop.good")

    for planning in (had, never):
        row = PlanningRefreshQueue.objects.get(planning=planning)  # still queued, unlocked, backing off
        assert (row.locked_at, row.lock_owner, row.last_error) == (None, None, "network_error")
        assert row.next_attempt_at > started
        state = PlanningRefreshState.objects.get(planning=planning)
        assert (state.last_failure_kind, state.last_error, state.disabled_until) == (
            "network_error", "network_error", None,
        )  # fmt: skip
    assert jobs.refresh_drain(owner="third", limits=LIMITS).claimed == 0  # not before its backoff
