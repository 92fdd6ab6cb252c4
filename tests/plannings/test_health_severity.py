"""The health status comes from each issue's typed severity, on the one ladder of statuses, never from
the wording of its message (which stays upstream's text for the API)."""

from datetime import UTC, datetime, timedelta

import pytest

from opsportal.lib.health_status import LADDER, HealthStatus, status_rank, status_worst
from plannings.health import HealthInputs, Issue, health_issues, health_status
from plannings.models import HealthSnapshot, JobRuntime

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _runtime(job_id: str, *, minutes_ago: float = 0, state: str = "idle") -> JobRuntime:
    return JobRuntime(job_id=job_id, state=state, last_loop_at=NOW - timedelta(minutes=minutes_ago))


def _inputs(**overrides) -> HealthInputs:
    fields = dict(
        now=NOW, run_jobs=True, paused=False,
        backfill=_runtime("plannings-backfill"), refresh_worker=_runtime("plannings-refresh-worker"),
        ready=0, locked=0, total=100, disabled=0, backfill_interval_ms=60_000, refresh_max_poll_ms=5_000,
    )  # fmt: skip
    return HealthInputs(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message", "severity"),
    [
        ({"run_jobs": False}, "Jobs not started", "unhealthy"),
        ({"paused": True}, "Jobs paused", "degraded"),
        ({"backfill": _runtime("plannings-backfill", minutes_ago=3)}, "Backfill stale (3m ago)", "unhealthy"),
        (
            {"refresh_worker": _runtime("plannings-refresh-worker", minutes_ago=1)},
            "Refresh worker stale (60s ago)",
            "unhealthy",
        ),
        ({"ready": 101}, "Queue stuck: 101 ready but worker idle", "unhealthy"),
        ({"disabled": 11}, "High disabled: 11/100 (11%)", "degraded"),
    ],
)
def test_each_rule_raises_its_issue_with_upstreams_text_and_a_typed_severity(overrides, message, severity):
    assert health_issues(_inputs(**overrides)) == [Issue(message, HealthStatus(severity))]


def test_the_status_follows_the_severities_whatever_the_messages_say():
    # Reworded messages: the words upstream's rule matched ("not started", "stale", "stuck") are
    # gone from one, and present in another whose severity is only degraded.
    reworded = [Issue("The jobs are off", HealthStatus.UNHEALTHY)]
    assert health_status(reworded) == "unhealthy"
    misleading = [Issue("Stale cache, stuck banner, not started yet", HealthStatus.DEGRADED)]
    assert health_status(misleading) == "degraded"
    assert health_status([*misleading, *reworded]) == "unhealthy"
    assert health_status([]) == "healthy"


def test_the_ladder_is_defined_once_and_every_reader_ranks_by_it():
    from opsportal.alerts.models import Rule
    from opsportal.portal import charts, metrics
    from plannings.management.commands.ops_health import EXIT_CODES

    assert [status.value for status in LADDER] == ["healthy", "degraded", "unhealthy"]
    assert [status_rank(status) for status in ("healthy", "degraded", "unhealthy")] == [0, 1, 2]
    assert status_worst(["degraded", "healthy"]) == "degraded" and status_worst([]) == "healthy"
    assert HealthSnapshot.Status is HealthStatus
    assert tuple(status.value for status in LADDER) == Rule.HEALTH_STATUSES
    assert EXIT_CODES == charts.STATUS_RANK == {"healthy": 0, "degraded": 1, "unhealthy": 2}
    assert tuple(LADDER) == metrics.STATUSES
    with pytest.raises(ValueError):
        status_rank("fine")
