"""The plannings health report (spec §7): figures from the selectors, issues and status from rules.

``health_issues`` and ``health_status`` are pure so every rule can be tested at
its boundary. Each issue carries its severity as a status of the one ladder
(``opsportal.lib.health_status``), set by the rule that raised it: the status is the
worst severity, never read back from an issue's wording. ``health_report`` gathers
the figures into a ``HealthReport``, which the dashboard, the history and ``/metrics``
read by attribute. Upstream's camelCase JSON (``GET /api/ops/plannings``, ``manage.py
ops_health``) is written only by its serializer, ``plannings.web.serializers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from opsportal.lib.health_status import HealthStatus, status_worst
from plannings import selectors
from plannings.models import JobRuntime, JobsSharedState
from plannings.quiet_hours import in_quiet_hours

TOP_N = 5
QUEUE_STUCK_READY = 100
HIGH_DISABLED_RATIO = 0.10


def _round_half_up(value: float) -> int:
    # JavaScript's Math.round, which upstream's messages use (Python rounds half to even).
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class HealthInputs:
    now: datetime
    run_jobs: bool
    paused: bool
    backfill: JobRuntime | None
    refresh_worker: JobRuntime | None
    ready: int
    locked: int
    total: int
    disabled: int
    backfill_interval_ms: int
    refresh_max_poll_ms: int


@dataclass(frozen=True)
class Issue:
    """One finding of the health rules: upstream's message (its exact text, as the API writes it) and
    the status it puts the health in on its own."""

    message: str
    severity: HealthStatus


def _unhealthy(message: str) -> Issue:
    return Issue(message, HealthStatus.UNHEALTHY)


def _degraded(message: str) -> Issue:
    return Issue(message, HealthStatus.DEGRADED)


def health_issues(inputs: HealthInputs) -> list[Issue]:
    """Upstream's rules, in its order. Jobs not running, a stale job and a stuck queue make the
    health unhealthy; paused jobs and too many disabled plannings degrade it."""
    issues: list[Issue] = []
    ever_reported = inputs.backfill is not None or inputs.refresh_worker is not None
    if not inputs.run_jobs or not ever_reported:
        issues.append(_unhealthy("Jobs not started"))
    elif inputs.paused:
        issues.append(_degraded("Jobs paused"))

    if inputs.backfill is not None and inputs.backfill.last_loop_at is not None:
        age_ms = (inputs.now - inputs.backfill.last_loop_at).total_seconds() * 1000
        if age_ms > inputs.backfill_interval_ms * 2.5:
            issues.append(_unhealthy(f"Backfill stale ({_round_half_up(age_ms / 60_000)}m ago)"))

    if inputs.refresh_worker is not None and inputs.refresh_worker.last_loop_at is not None:
        age_ms = (inputs.now - inputs.refresh_worker.last_loop_at).total_seconds() * 1000
        if age_ms > inputs.refresh_max_poll_ms * 3:
            issues.append(_unhealthy(f"Refresh worker stale ({_round_half_up(age_ms / 1000)}s ago)"))

    worker_idle = inputs.refresh_worker is not None and inputs.refresh_worker.state == JobRuntime.State.IDLE
    if inputs.ready > QUEUE_STUCK_READY and inputs.locked == 0 and worker_idle:
        issues.append(_unhealthy(f"Queue stuck: {inputs.ready} ready but worker idle"))

    if inputs.total > 0 and inputs.disabled / inputs.total > HIGH_DISABLED_RATIO:
        percent = _round_half_up(inputs.disabled / inputs.total * 100)
        issues.append(_degraded(f"High disabled: {inputs.disabled}/{inputs.total} ({percent}%)"))
    return issues


def health_status(issues: list[Issue]) -> HealthStatus:
    """The worst severity among ``issues``: healthy without any."""
    return status_worst(issue.severity for issue in issues)


@dataclass(frozen=True)
class QueueFigures:
    depth: int
    ready: int
    locked: int


@dataclass(frozen=True)
class BackupFigures:
    total: int
    covered: int
    disabled: int

    @property
    def coverage_pct(self) -> float | None:
        """Plannings with a backup, in percent to one decimal; None when there are no plannings."""
        return round(100 * self.covered / self.total, 1) if self.total else None


@dataclass(frozen=True)
class LastBackupWrite:
    planning_full_id: str
    changed: bool | None
    nb_events: int | None
    at: datetime


@dataclass(frozen=True)
class RecentFailure:
    planning_full_id: str
    failure_kind: str | None
    failures: int
    disabled_until: datetime | None


@dataclass(frozen=True)
class HealthReport:
    status: str  # a HealthStatus value
    issues: tuple[str, ...]
    backfill_state: str  # a JobRuntime state, or "unknown" when the job never reported
    refresh_worker_state: str
    in_quiet_hours: bool
    queue: QueueFigures
    backups: BackupFigures
    last_backup_write: LastBackupWrite | None
    failed_hosts: tuple[selectors.FailedHost, ...]  # the top TOP_N hosts, most disabled first
    recent_failures: tuple[RecentFailure, ...]  # the TOP_N latest, newest first


def health_report(
    *,
    now: datetime | None = None,
    runtimes: dict[str, JobRuntime] | None = None,
    shared: JobsSharedState | None = None,
) -> HealthReport:
    """The health report of spec §7, built from five SQL statements.

    A caller that shows the job rows too (the dashboard) reads them once and passes them in.
    """
    now = now or timezone.now()
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    coverage = selectors.coverage_figures(now=now, max_attempts=max_attempts)
    hosts = selectors.disabled_hosts(now=now)
    failures = selectors.recent_failures(now=now, limit=TOP_N)
    runtimes = selectors.job_runtimes() if runtimes is None else runtimes
    shared = selectors.jobs_shared_state() if shared is None else shared

    backfill = runtimes.get(selectors.JOB_BACKFILL)
    refresh_worker = runtimes.get(selectors.JOB_REFRESH_WORKER)
    disabled = sum(host.count for host in hosts)
    issues = health_issues(
        HealthInputs(
            now=now,
            run_jobs=settings.RUN_JOBS,
            paused=shared.paused,
            backfill=backfill,
            refresh_worker=refresh_worker,
            ready=coverage.ready,
            locked=coverage.locked,
            total=coverage.total,
            disabled=disabled,
            backfill_interval_ms=settings.PLANNINGS_BACKFILL_INTERVAL_MS,
            refresh_max_poll_ms=settings.PLANNINGS_REFRESH_WORKER_MAX_POLL_MS,
        )
    )
    last_write = None
    if shared.last_write_at is not None:
        last_write = LastBackupWrite(
            planning_full_id=shared.last_write_planning_full_id,
            changed=shared.last_write_changed,
            nb_events=shared.last_write_nb_events,
            at=shared.last_write_at,
        )
    return HealthReport(
        status=health_status(issues).value,
        issues=tuple(issue.message for issue in issues),
        backfill_state=backfill.state if backfill else "unknown",
        refresh_worker_state=refresh_worker.state if refresh_worker else "unknown",
        in_quiet_hours=in_quiet_hours(settings.JOBS_QUIET_HOURS, settings.JOBS_QUIET_HOURS_TIMEZONE, now),
        queue=QueueFigures(depth=coverage.depth, ready=coverage.ready, locked=coverage.locked),
        backups=BackupFigures(total=coverage.total, covered=coverage.covered, disabled=disabled),
        last_backup_write=last_write,
        failed_hosts=tuple(hosts[:TOP_N]),
        recent_failures=tuple(
            RecentFailure(
                planning_full_id=state.planning_id,
                failure_kind=state.last_failure_kind,
                failures=state.consecutive_failures,
                disabled_until=state.disabled_until,
            )
            for state in failures
        ),
    )
