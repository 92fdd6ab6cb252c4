"""Two beats at once (a deploy overlaps the old and new beat containers): each beat task runs once a period."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.utils import timezone

from opsportal.alerts import tasks as alerts_tasks
from opsportal.audit import tasks as audit_tasks
from opsportal.celery import app
from opsportal.workers.models import PeriodicRun
from opsportal.workers.services import periodic_claim
from plannings import tasks as plannings_tasks
from plannings.models import PlanningRefreshQueue
from tests import factories
from walletops import tasks as walletops_tasks

# Registered with the app, as a worker's autodiscovery does.
assert alerts_tasks and audit_tasks and plannings_tasks and walletops_tasks

GUARDED = [name for name in settings.CELERY_BEAT_SCHEDULE if name != "plannings-refresh-poll"]


def _send_as_beat(name: str) -> dict:
    """Run the schedule entry's task with the entry's own arguments, as beat sends it."""
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    return app.tasks[entry["task"]].apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {})).get()


def _skipped(result: dict) -> bool:
    return "skipped" in result or result.get("state") == "skipped"


@pytest.mark.django_db
@pytest.mark.parametrize("name", GUARDED)
def test_a_task_sent_by_two_beats_in_one_period_runs_once(name, settings):
    settings.JOBS_QUIET_HOURS = "off"
    for i in range(3):
        factories.planning_make(f"beat.p{i}")  # no backup: the backfill queues them
    first = _send_as_beat(name)
    queued = PlanningRefreshQueue.objects.count()
    second = _send_as_beat(name)  # the other beat's copy, within the period
    assert not _skipped(first) and _skipped(second), (first, second)
    assert PlanningRefreshQueue.objects.count() == queued  # nothing done twice
    run = PeriodicRun.objects.get(name=settings.CELERY_BEAT_SCHEDULE[name]["task"])
    assert (run.runs, run.skipped) == (1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("name", GUARDED)
def test_the_next_period_runs_again(name):
    period = settings.CELERY_BEAT_SCHEDULE[name]["schedule"]
    assert not _skipped(_send_as_beat(name))
    with time_machine.travel(timezone.now() + timedelta(seconds=period * 0.9 - 1), tick=False):
        assert _skipped(_send_as_beat(name))  # one beat's tick a little early (queueing) vs the other's
    with time_machine.travel(timezone.now() + timedelta(seconds=period * 0.9 + 1), tick=False):
        assert not _skipped(_send_as_beat(name))


def test_a_task_run_by_hand_is_never_skipped(db):
    from plannings.tasks import backfill

    assert not _skipped(_send_as_beat("plannings-backfill"))
    assert backfill.apply().get()["state"] != "skipped"  # the Jobs page's "Run backfill now" sends no period


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_beats_claiming_at_the_same_instant_get_one_run():
    now, results, barrier = timezone.now(), [], threading.Barrier(8)

    def claim():
        barrier.wait()
        try:
            results.append(periodic_claim(name="race", period=timedelta(seconds=60), now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert PeriodicRun.objects.get(name="race").skipped == 7
