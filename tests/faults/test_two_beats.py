"""Two real ``celery beat`` processes at once (a Kamal deploy overlaps the old and new beat), one worker,
on Redis and PostgreSQL: every beat task is sent twice a period, and runs once a period."""

from datetime import timedelta

import pytest

from opsportal.workers.models import PeriodicRun
from tests.faults.conftest import celery_beat, celery_worker, logs_tail, processes_stop, wait_until

pytestmark = pytest.mark.postgres_only
BACKFILL_SECONDS = 2
EVALUATE_SECONDS = 10  # the alerts' shortest period


def test_two_beats_run_the_backfill_and_the_alerts_once_a_period(redis_server, subprocess_env, tmp_path):
    env = {
        **subprocess_env,
        "CELERY_BROKER_URL": redis_server.url,
        "PLANNINGS_BACKFILL_INTERVAL_MS": str(BACKFILL_SECONDS * 1000),
        "OPSPORTAL_ALERTS_EVALUATE_SECONDS": str(EVALUATE_SECONDS),
    }
    worker = celery_worker(env, tmp_path / "worker.log")
    beats = [celery_beat(env, tmp_path / f"beat{i}.log", tmp_path / f"schedule{i}") for i in range(2)]
    logs = ("worker.log", "beat0.log", "beat1.log")
    try:

        def sent_twice(name: str, periods: int):
            run = PeriodicRun.objects.filter(name=name).first()
            return run if run and run.runs >= periods and run.skipped >= periods else None

        backfill = wait_until(
            lambda: sent_twice("plannings.backfill", 4), timeout=300, message=lambda: logs_tail(tmp_path, *logs)
        )
        evaluate = wait_until(
            lambda: sent_twice("alerts.evaluate", 2), timeout=300, message=lambda: logs_tail(tmp_path, *logs)
        )
    finally:
        processes_stop(*beats, worker)
    for run, seconds in ((backfill, BACKFILL_SECONDS), (evaluate, EVALUATE_SECONDS)):
        # Both beats sent each period's run; the worker ran one, a period after the previous one.
        assert run.last_run_at - run.previous_run_at >= timedelta(seconds=seconds * 0.9), run.__dict__
