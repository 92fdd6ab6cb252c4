"""Reads for the plannings health figures. Every function takes ``now`` so time can be moved in tests.

The health endpoint is polled by monitors, so these reads are budgeted: five
statements per request whatever the table sizes (see ``bench/health_endpoint.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, Func, IntegerField, Max, Q, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from plannings import policy
from plannings.models import (
    JOB_BACKFILL,
    JOB_REFRESH_WORKER,
    SQL_ALIVE,
    SQL_DUE,
    SQL_LIVE_LOCK,
    SQL_UNLOCKED,
    JobRuntime,
    JobsSharedState,
    Planning,
    PlanningBackup,
    PlanningRefreshState,
    RefreshAttempt,
    q_backfill_eligible,
    q_backup_fresh,
    q_live_lock,
    q_planning_disabled,
    q_queued,
    q_ready,
    q_stale_or_missing,
    queue_sql_params,
)

JOB_IDS = (JOB_BACKFILL, JOB_REFRESH_WORKER)


@dataclass(frozen=True)
class CoverageFigures:
    total: int
    covered: int
    depth: int
    ready: int
    locked: int
    # When the longest-waiting ready row became due (None: nothing ready): how long the queue has left
    # work waiting that a worker could have picked. Rows backing off after a failure are not ready.
    oldest_ready_at: datetime | None = None


@dataclass(frozen=True)
class FailedHost:
    host: str
    count: int
    last_failure: str | None


class FirstSegment(Func):
    """The part of a dotted full id before the first dot (upstream's ``split_part(x, '.', 1)``)."""

    output_field = TextField()
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="split_part(%(expressions)s, '.', 1)")

    def as_sqlite(self, compiler, connection, **extra_context):
        template = (
            "CASE WHEN instr(%(expressions)s, '.') > 0 "
            "THEN substr(%(expressions)s, 1, instr(%(expressions)s, '.') - 1) "
            "ELSE %(expressions)s END"
        )
        return self.as_sql(compiler, connection, template=template)


# One statement for every count, in plain SQL that PostgreSQL and SQLite both run.
# ``covered`` counts the backup table alone: its foreign key already guarantees
# that every backup belongs to a planning, so upstream's LEFT JOIN (the dominant
# cost of its health query at scale) is not needed. On PostgreSQL both totals are
# read from counters that triggers keep exact (migration 0005); the COALESCE falls
# back to counting should a counter row be missing.
_TOTALS_COUNTED = """
(SELECT count(*) AS total FROM plannings) AS p
CROSS JOIN (SELECT count(*) AS covered FROM plannings_backup) AS b"""
_TOTALS_MAINTAINED = """
(SELECT COALESCE((SELECT row_count FROM opsportal_row_counts WHERE table_name = 'plannings'),
                 (SELECT count(*) FROM plannings)) AS total) AS p
CROSS JOIN (SELECT COALESCE((SELECT row_count FROM opsportal_row_counts WHERE table_name = 'plannings_backup'),
                            (SELECT count(*) FROM plannings_backup)) AS covered) AS b"""
# Ready and locked within the alive rows (the WHERE): the queue states of plannings.models.
_COVERAGE_SQL = f"""
SELECT p.total, b.covered, q.depth, q.ready, q.locked, q.oldest_ready
FROM {{totals}}
CROSS JOIN (
    SELECT
        count(*) AS depth,
        count(CASE WHEN {SQL_DUE} AND {SQL_UNLOCKED} THEN 1 END) AS ready,
        min(CASE WHEN {SQL_DUE} AND {SQL_UNLOCKED} THEN next_attempt_at END) AS oldest_ready,
        count(CASE WHEN {SQL_LIVE_LOCK} THEN 1 END) AS locked
    FROM plannings_refresh_queue
    WHERE {SQL_ALIVE}
) AS q
"""


# PostgreSQL: the same figures from the trigger-kept histogram of migration 0009, whatever the queue's
# size. Minutes before the current one are due, later ones are not; so for the current minute's
# seconds; only the current second's rows are read from the queue itself (through upstream's
# next_attempt_at index). A '-infinity' lock is no lock. The oldest ready row: the oldest second
# holding a ready row (along the histogram's key), then that second's first ready row along the index
# (ORDER BY ... LIMIT 1, not min(): a bulk enqueue puts 100,000 rows in one second, and min() read them all).
_QUEUE_KEPT_SQL = f"""
WITH t AS (SELECT floor(extract(epoch FROM %(now)s::timestamptz) / 60)::bigint AS now_minute,
                  floor(extract(epoch FROM %(now)s::timestamptz))::bigint AS now_second),
this_second AS (
    SELECT next_attempt_at FROM plannings_refresh_queue, t
    WHERE next_attempt_at >= to_timestamp(t.now_second) AND {SQL_DUE} AND {SQL_ALIVE} AND {SQL_UNLOCKED}
),
ready_before AS (
    SELECT row_count FROM opsportal_queue_histogram AS h, t
    WHERE h.unit = 60 AND h.due_bucket < t.now_minute AND h.{SQL_ALIVE} AND h.locked_at < %(lock_cutoff)s
    UNION ALL
    SELECT row_count FROM opsportal_queue_histogram AS h, t
    WHERE h.unit = 1 AND h.due_bucket >= t.now_minute * 60 AND h.due_bucket < t.now_second
      AND h.{SQL_ALIVE} AND h.locked_at < %(lock_cutoff)s
),
oldest_second AS (
    SELECT min(due_bucket) AS second FROM opsportal_queue_histogram AS h, t
    WHERE h.unit = 1 AND h.due_bucket < t.now_second AND h.{SQL_ALIVE} AND h.locked_at < %(lock_cutoff)s
)
SELECT p.total, b.covered,
    (SELECT coalesce(sum(row_count), 0)::bigint FROM opsportal_queue_histogram WHERE unit = 60 AND {SQL_ALIVE}),
    (SELECT coalesce(sum(row_count), 0)::bigint FROM ready_before) + (SELECT count(*) FROM this_second),
    (SELECT coalesce(sum(row_count), 0)::bigint FROM opsportal_queue_histogram
     WHERE unit = 60 AND {SQL_ALIVE} AND locked_at >= %(lock_cutoff)s),
    coalesce(
        (SELECT next_attempt_at FROM plannings_refresh_queue, oldest_second
         WHERE next_attempt_at >= to_timestamp(oldest_second.second)
           AND next_attempt_at < to_timestamp(oldest_second.second + 1) AND {SQL_ALIVE} AND {SQL_UNLOCKED}
         ORDER BY next_attempt_at LIMIT 1),
        (SELECT min(next_attempt_at) FROM this_second))
FROM {_TOTALS_MAINTAINED}
"""


def coverage_figures(*, now: datetime, max_attempts: int) -> CoverageFigures:
    """Queue depth/ready/locked and backup total/covered, in one statement.

    A lock younger than the TTL is live (so a lock exactly 5 minutes old still
    counts as locked); rows at ``max_attempts`` are dead and counted nowhere.
    """
    params = queue_sql_params(now=now, max_attempts=max_attempts)
    sql = _QUEUE_KEPT_SQL if connection.vendor == "postgresql" else _COVERAGE_SQL.format(totals=_TOTALS_COUNTED)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        total, covered, depth, ready, locked, oldest_ready = cursor.fetchone()
    return CoverageFigures(
        total=total,
        covered=covered,
        depth=depth,
        ready=ready,
        locked=locked,
        oldest_ready_at=_aware(oldest_ready),
    )


def _aware(value: datetime | str | None) -> datetime | None:
    """A raw statement's datetime: SQLite hands an aggregate's back as text in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


# PostgreSQL: disabled states by host from the trigger-kept histogram of migration 0009: minutes after
# the current one are disabled, earlier ones not, then so for the current minute's seconds; the
# current second's states are read through upstream's disabled_until index. A kind is in the
# histogram only where a state has one (max ignores NULL).
_DISABLED_HOSTS_KEPT_SQL = """
WITH t AS (SELECT floor(extract(epoch FROM %(now)s::timestamptz) / 60)::bigint AS now_minute,
                  floor(extract(epoch FROM %(now)s::timestamptz))::bigint AS now_second),
disabled AS (
    SELECT host, row_count AS n, CASE WHEN has_kind THEN kind END AS kind FROM opsportal_disabled_histogram, t
    WHERE unit = 60 AND until_bucket > t.now_minute
    UNION ALL
    SELECT host, row_count, CASE WHEN has_kind THEN kind END FROM opsportal_disabled_histogram, t
    WHERE unit = 1 AND until_bucket > t.now_second AND until_bucket < (t.now_minute + 1) * 60
    UNION ALL
    SELECT split_part(planning_full_id, '.', 1), 1, last_failure_kind FROM plannings_refresh_state, t
    WHERE disabled_until > %(now)s AND disabled_until < to_timestamp(t.now_second + 1)
)
SELECT host, sum(n)::bigint AS count, max(kind) FROM disabled GROUP BY host HAVING sum(n) > 0 ORDER BY count DESC, host
"""
# The latest disabled states, newest first, found through the trigger-kept copy's index.
_RECENT_DISABLED_KEPT_SQL = """
SELECT planning_full_id FROM opsportal_disabled_state WHERE disabled_until > %s
ORDER BY updated_at DESC, planning_full_id LIMIT %s
"""


def disabled_hosts(*, now: datetime) -> list[FailedHost]:
    """Every host with disabled plannings, most disabled first.

    All groups are returned (there is one per school, a few dozen), so the
    caller gets both the disabled total (their sum) and the top hosts from one
    statement.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DISABLED_HOSTS_KEPT_SQL, {"now": now})
            return [FailedHost(host=host, count=int(count), last_failure=kind) for host, count, kind in cursor]
    rows = (
        PlanningRefreshState.objects.disabled(now=now)
        .annotate(host=FirstSegment("planning_id"))
        .values("host")
        .annotate(count=Count("*"), last_failure=Max("last_failure_kind"))
        .order_by("-count", "host")
    )
    return [FailedHost(host=r["host"], count=r["count"], last_failure=r["last_failure"]) for r in rows]


def recent_failures(*, now: datetime, limit: int = 5) -> list[PlanningRefreshState]:
    states = PlanningRefreshState.objects.disabled(now=now)
    if connection.vendor == "postgresql":
        # A constant statement, its values bound as parameters.
        states = states.filter(planning_id__in=RawSQL(_RECENT_DISABLED_KEPT_SQL, [now, limit]))  # noqa: S611
    return list(
        states.only(
            "planning_id",
            "last_failure_kind",
            "consecutive_failures",
            "disabled_until",
            "updated_at",
        ).order_by("-updated_at", "planning_id")[:limit]
    )


def job_runtimes() -> dict[str, JobRuntime]:
    return {runtime.job_id: runtime for runtime in JobRuntime.objects.filter(job_id__in=JOB_IDS)}


def jobs_shared_state() -> JobsSharedState:
    """The shared state row, or an unsaved default when no job or operator has written it yet."""
    state = JobsSharedState.objects.filter(pk=JobsSharedState.SINGLETON_ID).first()
    return state or JobsSharedState(pk=JobsSharedState.SINGLETON_ID)


# States a job reports from inside its loop: it reads the pause switch again at its next loop.
LOOPING = {JobRuntime.State.STARTING, JobRuntime.State.IDLE, JobRuntime.State.WORKING, JobRuntime.State.QUIET_HOURS}


@dataclass(frozen=True)
class JobRow:
    job_id: str
    job: JobRuntime | None
    shown: str  # the state shown: the job's report, or pausing / resuming while it catches up with the switch
    note: str = ""
    next_poll_due: bool = False  # a next poll time that has passed: the next beat tick polls ("due now")


@dataclass(frozen=True)
class JobsSwitch:
    state: str  # running, pausing, paused, resuming
    note: str
    rows: list[JobRow]


def jobs_shown(*, shared: JobsSharedState, runtimes: dict[str, JobRuntime], now: datetime) -> JobsSwitch:
    """The state every page shows for the jobs (the Jobs page, the dashboard): the switch and each row from
    the same two facts, so no page says paused above rows saying idle, nor idle where another says pausing.

    ``GET /api/ops/plannings`` keeps upstream's contract instead: each job's own last report.
    """
    rows = []
    for job_id in JOB_IDS:
        job = runtimes.get(job_id)
        if job is None:
            rows.append(JobRow(job_id, None, "never reported"))
            continue
        due = job.next_poll_at is not None and job.next_poll_at <= now and not shared.paused
        if shared.paused and job.state in LOOPING:
            rows.append(JobRow(job_id, job, "pausing", f"reported {job.state}; stops at its next loop"))
        elif not shared.paused and job.state == JobRuntime.State.PAUSED:
            rows.append(JobRow(job_id, job, "resuming", "reported paused; runs again at its next loop", due))
        else:
            rows.append(JobRow(job_id, job, job.state, next_poll_due=due))
    shown = {row.shown for row in rows}
    if shared.paused:
        if "pausing" in shown:
            return JobsSwitch("pausing", "paused: the jobs stop at their next loop", rows)
        return JobsSwitch("paused", "paused: nothing runs until the jobs are resumed", rows)
    if "resuming" in shown:
        return JobsSwitch("resuming", "resumed: running again from their next loop", rows)
    return JobsSwitch("running", "", rows)


REFRESH_QUEUE_NAME = "plannings_refresh"  # its name in the cross-app /queues report and /metrics


@dataclass(frozen=True)
class RunnerQueue:
    depth: int
    oldest_ready_at: datetime | None  # see CoverageFigures


def runner_queues(*, now: datetime) -> dict[str, RunnerQueue]:
    """Plannings' runner queues with their depth and oldest ready row, in one statement: what the
    cross-app ``/queues`` report (``opsportal.queues``) asks of this app."""
    figures = coverage_figures(now=now, max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS)
    return {REFRESH_QUEUE_NAME: RunnerQueue(depth=figures.depth, oldest_ready_at=figures.oldest_ready_at)}


# --- One planning's page, and the failure kinds of the list -----------------------------

ATTEMPTS_SHOWN = 50


class JsonArrayLength(Func):
    """The length of a JSON array column; NULL for anything else (PostgreSQL would raise on an object)."""

    output_field = IntegerField()
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "CASE WHEN jsonb_typeof(%(expressions)s) = 'array' THEN jsonb_array_length(%(expressions)s) END"
        return self.as_sql(compiler, connection, template=template)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "CASE WHEN json_type(%(expressions)s) = 'array' THEN json_array_length(%(expressions)s) END"
        return self.as_sql(compiler, connection, template=template)


@dataclass(frozen=True)
class PlanningStory:
    """Everything the page of one planning shows; ``planning`` carries its state, queue row and backup figures."""

    planning: Planning
    attempts: list[RefreshAttempt]


def planning_story(*, full_id: str) -> PlanningStory | None:
    """The planning with its state and queue row, its backup's figures (not its events), its newest attempts.

    Two statements whatever the table sizes: the planning joined to its one-to-one
    rows, and its newest attempts through their (planning, started_at) index.
    """
    planning = (
        Planning.objects.select_related("refresh_state", "refresh_queue")
        .annotate(
            backup_updated_at=F("backup__updated_at"),
            backup_signature=F("backup__signature"),
            backup_events=JsonArrayLength("backup__events"),
        )
        .filter(full_id=full_id)
        .first()
    )
    if planning is None:
        return None
    attempts = list(RefreshAttempt.objects.filter(planning_id=full_id).order_by("-started_at", "-id")[:ATTEMPTS_SHOWN])
    return PlanningStory(planning=planning, attempts=attempts)


@dataclass(frozen=True)
class FailureKindCount:
    value: str  # a failure kind, or http_<status> for client errors
    count: int


# ``policy.failure_value`` in SQL: a client error by its status (http_404, http_410 ...), as its state's
# last_error names it; any other failure by its kind (timeout, parse_error ...).
FAILURE_LABEL = Case(
    When(last_failure_kind=policy.HTTP_4XX, last_error__startswith="http_4", then=F("last_error")),
    default=F("last_failure_kind"),
    output_field=TextField(),
)


def failure_kind_counts() -> list[FailureKindCount]:
    """Plannings whose last refresh failed, by failure kind, most first: one grouped statement.

    On PostgreSQL, the per-label counts that the triggers of migration 0010 keep: a few rows.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT label, row_count FROM opsportal_failure_labels ORDER BY row_count DESC, label")
            return [FailureKindCount(value=label or "", count=int(count)) for label, count in cursor]
    rows = (
        PlanningRefreshState.objects.filter(last_failure_kind__isnull=False)
        .annotate(label=FAILURE_LABEL)
        .values("label")
        .annotate(count=Count("*"))
        .order_by("-count", "label")
    )
    return [FailureKindCount(value=row["label"] or "", count=row["count"]) for row in rows]


# --- The dashboard's failure figures (issue #13) --------------------------------------------------
# What the health API's rule leaves out: it lists only disabled rows, so a feed failing and
# retrying is invisible there. These read the refresh state as it is now: a success clears
# ``last_failure_kind``, so a state with a kind is a feed whose latest attempt failed.

FAILURES_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class RecentFailureKind:
    kind: str  # as the plannings list's failure filter names it: http_404, timeout ... (``policy.failure_value``)
    count: int
    last_at: datetime | None

    @property
    def label(self) -> str:
        return policy.failure_label(self.kind)


@dataclass(frozen=True)
class HostFailing:
    host: str
    feeds: int
    failing: int

    @property
    def share_pct(self) -> int:
        return round(self.failing / self.feeds * 100) if self.feeds else 100


@dataclass(frozen=True)
class FailingFeeds:
    feeds: int  # plannings with a feed URL
    failing: int
    hosts: int  # hosts (schools) with a feed
    failing_hosts: tuple[HostFailing, ...]  # the hosts with a failing feed, most failing first
    by_host: tuple[HostFailing, ...] = ()  # every host with a feed, failing or not, by name (the alert rules' targets)

    @property
    def share_pct(self) -> int | None:
        return round(self.failing / self.feeds * 100) if self.feeds else None

    @property
    def hosts_share_pct(self) -> int | None:
        return round(len(self.failing_hosts) / self.hosts * 100) if self.hosts else None


# PostgreSQL: the failing states of the window (since, now] from the trigger-kept side tables of
# migration 0010: its whole minutes from the histogram, then the whole seconds of its first and last
# minutes, then the rows of its first and last seconds through the failing states' time index; each
# label's latest attempt through its (label, time) index. The guards keep a bucket from being counted
# twice when the window's ends share a minute or a second.
_FAILURES_BY_KIND_KEPT_SQL = """
WITH w AS (SELECT floor(extract(epoch FROM %(since)s::timestamptz) / 60)::bigint AS first_minute,
                  floor(extract(epoch FROM %(now)s::timestamptz) / 60)::bigint AS last_minute,
                  floor(extract(epoch FROM %(since)s::timestamptz))::bigint AS first_second,
                  floor(extract(epoch FROM %(now)s::timestamptz))::bigint AS last_second),
counted AS (
    SELECT label, row_count AS n FROM opsportal_failure_histogram, w
    WHERE unit = 60 AND bucket > w.first_minute AND bucket < w.last_minute
    UNION ALL
    SELECT label, row_count FROM opsportal_failure_histogram, w
    WHERE unit = 1 AND bucket > w.first_second AND bucket < w.last_second AND bucket < (w.first_minute + 1) * 60
    UNION ALL
    SELECT label, row_count FROM opsportal_failure_histogram, w
    WHERE unit = 1 AND bucket > w.first_second AND bucket < w.last_second AND bucket >= w.last_minute * 60
      AND w.last_minute > w.first_minute
    UNION ALL
    SELECT label, 1 FROM opsportal_failing_state, w
    WHERE last_attempt_at > %(since)s AND last_attempt_at <= %(now)s
      AND last_attempt_at < %(first_second_end)s
    UNION ALL
    SELECT label, 1 FROM opsportal_failing_state, w
    WHERE last_attempt_at > %(since)s AND last_attempt_at <= %(now)s
      AND last_attempt_at >= %(last_second_start)s AND w.last_second > w.first_second
),
kinds AS (SELECT label, sum(n)::bigint AS count FROM counted GROUP BY label HAVING sum(n) > 0)
SELECT label, count,
       (SELECT max(last_attempt_at) FROM opsportal_failing_state AS s
        WHERE s.label = kinds.label AND s.last_attempt_at > %(since)s AND s.last_attempt_at <= %(now)s)
FROM kinds ORDER BY count DESC, label
"""


def failures_by_kind(*, now: datetime, window: timedelta = FAILURES_WINDOW) -> list[RecentFailureKind]:
    """Feeds whose latest attempt failed within ``window`` before ``now``, per failure kind, most first.

    One grouped statement. It counts feeds, not attempts: the state keeps only the latest
    attempt, so a feed that failed and then succeeded within the hour is not counted.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            since = now - window
            # The edge seconds' ends as values, not expressions of the CTE: the planner then sees a
            # one-second range and reads it through the time index, whatever it guesses for a parameter
            # (a guessed third of the table read it whole once: 6,032 rows for 3,000 failing states).
            edges = {"first_second_end": since.replace(microsecond=0) + timedelta(seconds=1),
                     "last_second_start": now.replace(microsecond=0)}  # fmt: skip
            cursor.execute(_FAILURES_BY_KIND_KEPT_SQL, {"since": since, "now": now, **edges})
            return [RecentFailureKind(kind=label or "", count=int(count), last_at=at) for label, count, at in cursor]
    rows = (
        PlanningRefreshState.objects.filter(
            last_failure_kind__isnull=False, last_attempt_at__gt=now - window, last_attempt_at__lte=now
        )
        .annotate(label=FAILURE_LABEL)
        .values("label")
        .annotate(count=Count("*"), last_at=Max("last_attempt_at"))
        .order_by("-count", "label")
    )
    return [RecentFailureKind(kind=r["label"] or "", count=r["count"], last_at=r["last_at"]) for r in rows]


def failing_feeds() -> FailingFeeds:
    """Feeds failing now (whatever their age or disable), per host, in one statement.

    Two grouped reads in one ``UNION ALL``: feeds per host from the plannings, failing
    feeds per host from the failing states alone. A join of the two tables costs five
    times as much at 100,000 plannings (it visits every state to count the few failing).
    Every host group is read (one per school, a few dozen) so the totals and the share of
    hosts come from the same statement as the failing hosts.
    """
    feeds = (
        Planning.objects.filter(url__isnull=False)
        .exclude(url="")
        .annotate(host=FirstSegment("full_id"))
        .values("host")
        .annotate(feeds=Count("*"), failing=Value(0))
        .order_by()
    )
    failing = (
        PlanningRefreshState.objects.filter(last_failure_kind__isnull=False)
        .annotate(host=FirstSegment("planning_id"))
        .values("host")
        .annotate(feeds=Value(0), failing=Count("*"))
        .order_by()
    )
    if connection.vendor == "postgresql":
        # The same per-host counts, kept by the triggers of migration 0010: a few dozen rows to read.
        with connection.cursor() as cursor:
            cursor.execute("SELECT host, feeds, failing FROM opsportal_host_feeds")
            counted = cursor.fetchall()
    else:
        counted = feeds.union(failing, all=True).values_list("host", "feeds", "failing")
    per_host: dict[str, list[int]] = {}
    for host, feed_count, failing_count in counted:
        totals = per_host.setdefault(host, [0, 0])
        totals[0] += feed_count
        totals[1] += failing_count
    hosts = [HostFailing(host=host, feeds=f, failing=n) for host, (f, n) in per_host.items()]
    failing_hosts = sorted((h for h in hosts if h.failing), key=lambda h: (-h.failing, h.host))
    return FailingFeeds(
        feeds=sum(h.feeds for h in hosts),
        failing=sum(h.failing for h in hosts),
        hosts=sum(1 for h in hosts if h.feeds),
        failing_hosts=tuple(failing_hosts),
        by_host=tuple(sorted((h for h in hosts if h.feeds), key=lambda h: h.host)),
    )


def newest_backup_at() -> datetime | None:
    """When the newest backup was written (any planning's), or None without any: one read along the
    backups' ``updated_at`` index, whatever the catalog's size."""
    return PlanningBackup.objects.aggregate(newest=Max("updated_at"))["newest"]


# --- Plannings by filter: the operator's bulk actions and the API's list --------------------

# --- The plannings list's host filter (issue #23) -------------------------------------------------
# On PostgreSQL both read the (host, full id) pairs that the triggers of migration 0012 keep:
# the plannings table has no index on its host (upstream's indexes are kept as they are).

_HOSTS_SKIP_SCAN = """
WITH RECURSIVE hosts (host) AS (
    (SELECT planning_id FROM opsportal_planning_host ORDER BY planning_id LIMIT 1)
    UNION ALL
    SELECT (SELECT h.planning_id FROM opsportal_planning_host AS h WHERE h.planning_id > hosts.host
            ORDER BY h.planning_id LIMIT 1)
    FROM hosts WHERE hosts.host IS NOT NULL
)
SELECT host FROM hosts WHERE host IS NOT NULL
"""


def planning_hosts() -> list[str]:
    """Every planning's host (``planning_id``, the school slug), sorted, each once: one statement.

    On PostgreSQL a skip scan of the kept pairs, one index probe per host whatever the catalog's
    size; elsewhere a DISTINCT over the plannings.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_HOSTS_SKIP_SCAN)
            return [host for (host,) in cursor]
    return list(Planning.objects.order_by("planning_id").values_list("planning_id", flat=True).distinct())


def q_planning_host(host: str, prefix: str = "") -> Q:
    """The plannings of ``host`` (their ``planning_id``); ``prefix`` reaches the planning through a relation.

    On PostgreSQL, their full ids read as one range of the kept pairs, in full id order: a
    page of a host's plannings reads that page, not every planning sorted before the host's.
    """
    if connection.vendor == "postgresql":
        field = f"{prefix}full_id" if prefix else "pk"
        keys = RawSQL("SELECT full_id FROM opsportal_planning_host WHERE planning_id = %s", [host])  # noqa: S611
        # And from the host's first full id on: planned as a scan of the plannings' key in order that
        # probes the kept pairs (as PostgreSQL may, from the statistics), a page of the last host read
        # every planning sorted before it (96,400 of 100,000 in one CI run); from its first key it reads
        # the page. Only a lower end: an upper one, a parameter, makes the range look tiny to the planner,
        # which then reads the host's every row and sorts them.
        first = RawSQL("SELECT min(full_id) FROM opsportal_planning_host WHERE planning_id = %s", [host])  # noqa: S611
        return Q(**{f"{field}__in": keys, f"{field}__gte": first})
    return Q(**{f"{prefix}planning_id": host})


def q_planning_without_backup() -> Q:
    """The plannings that have no backup.

    On PostgreSQL their keys as kept (migration 0014), from the first of them on: a page of them
    reads that page, not every backed-up planning sorted before it.
    """
    if connection.vendor == "postgresql":
        keys = RawSQL("SELECT full_id FROM opsportal_planning_no_backup", [])  # noqa: S611
        first = RawSQL("SELECT min(full_id) FROM opsportal_planning_no_backup", [])  # noqa: S611
        return Q(pk__in=keys, pk__gte=first)
    return Q(backup__isnull=True)


# --- The plannings list's counts, kept (issue #23) -------------------------------------------------
# A filter matching a small share of the catalog (locked rows, one host, the disabled) was counted
# by reading plannings until the list's cap, every one of them below it: all the catalog's. On
# PostgreSQL the list's one-filter counts are read from what the triggers keep instead: the row
# counts (migration 0005), the queue and disabled histograms (0010), the host pairs (0012).

_ROWS = "(SELECT row_count FROM opsportal_row_counts WHERE table_name = '{table}')"
_QUEUED_KEPT = "(SELECT coalesce(sum(row_count), 0) FROM opsportal_queue_histogram WHERE unit = 60{where})"
_YES_KEPT = {
    "queued": _QUEUED_KEPT.format(where=""),
    # Live locks whatever the attempts, as the list's "locked" filter: the histogram keeps every exact lock.
    "locked": _QUEUED_KEPT.format(where=f" AND {SQL_LIVE_LOCK}"),
    "has_backup": _ROWS.format(table="plannings_backup"),
    "disabled": f"(SELECT coalesce(sum(d.count), 0) FROM ({_DISABLED_HOSTS_KEPT_SQL}) AS d)",
    # coverage_figures' ready rows alone (its oldest ready row left out): whole minutes, then whole seconds
    # from the histogram; the current second's rows through upstream's next_attempt_at index.
    "ready": f"""(
    WITH t AS (SELECT floor(extract(epoch FROM %(now)s::timestamptz) / 60)::bigint AS now_minute,
                      floor(extract(epoch FROM %(now)s::timestamptz))::bigint AS now_second)
    SELECT (SELECT coalesce(sum(row_count), 0) FROM opsportal_queue_histogram AS h, t
            WHERE h.unit = 60 AND h.due_bucket < t.now_minute AND h.{SQL_ALIVE} AND h.locked_at < %(lock_cutoff)s)
         + (SELECT coalesce(sum(row_count), 0) FROM opsportal_queue_histogram AS h, t
            WHERE h.unit = 1 AND h.due_bucket >= t.now_minute * 60 AND h.due_bucket < t.now_second
              AND h.{SQL_ALIVE} AND h.locked_at < %(lock_cutoff)s)
         + (SELECT count(*) FROM plannings_refresh_queue, t
            WHERE next_attempt_at >= to_timestamp(t.now_second) AND {SQL_DUE} AND {SQL_ALIVE} AND {SQL_UNLOCKED}))""",
}
# Along the key (the ORDER BY): its rows are stored host by host, so a scan in storage order, which
# the planner may prefer on a small table, would pass over every host stored before this one.
_HOST_KEPT = """
SELECT count(*) FROM (SELECT 1 FROM opsportal_planning_host WHERE planning_id = %(host)s
                      ORDER BY planning_id, full_id LIMIT %(limit)s) AS h"""


def plannings_count_kept(*, name: str, value: str, now: datetime, limit: int) -> int | None:
    """How many plannings the list's one filter ``name=value`` matches, from the kept counts: one statement.

    At most ``limit`` for a host (its pairs are counted up to it); None where no count is kept
    (SQLite, the other filters and values, a missing counter row): the caller counts the rows.
    """
    if connection.vendor != "postgresql":
        return None
    params = {**queue_sql_params(now=now, max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS), "limit": limit}
    if name == "host":
        sql = _HOST_KEPT
        params["host"] = value
    elif name in _YES_KEPT and value in ("yes", "no"):
        matching = _YES_KEPT[name]
        sql = f"SELECT {matching}" if value == "yes" else f"SELECT {_ROWS.format(table='plannings')} - {matching}"
    else:
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (count,) = cursor.fetchone()
    return None if count is None else int(count)


# The filters a script may combine (all must hold), with the admin list's meanings: ``host`` the
# school slug; ``failure`` a last-failure value as ``policy.failure_value`` names it (``any``: any);
# ``stale`` ``yes`` (stale or missing), ``due`` (what the next backfill enqueues) or ``no``; the
# others yes/no; ``search`` a substring of the full id or the title.
PLANNING_FILTERS = ("host", "disabled", "failure", "stale", "queued", "ready", "locked", "search")
STALE_CHOICES = ("yes", "due", "no")


def _failure_q(value: str) -> Q:
    kind, error = "refresh_state__last_failure_kind", "refresh_state__last_error"
    if value == policy.ANY_FAILURE:
        return Q(**{f"{kind}__isnull": False})
    if value.startswith("http_4") and value != policy.HTTP_4XX:
        return Q(**{kind: policy.HTTP_4XX, error: value})
    if value == policy.HTTP_4XX:
        return Q(**{kind: value}) & ~Q(**{f"{error}__startswith": "http_4"})
    return Q(**{kind: value})


def _yes_no(condition: Q, value: bool) -> Q:
    return condition if value else ~condition


def plannings_matching(*, filters: dict, now: datetime):
    """The plannings every given filter matches (``PLANNING_FILTERS``; None or absent: not filtered),
    in full id order."""
    unknown = sorted(set(filters) - set(PLANNING_FILTERS))
    if unknown:
        raise ValueError(f"unknown filters {unknown}; known: {list(PLANNING_FILTERS)}")
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    conditions = []
    given = {key: value for key, value in filters.items() if value is not None and value != ""}
    if "host" in given:
        conditions.append(q_planning_host(given["host"]))
    if "disabled" in given:
        conditions.append(_yes_no(q_planning_disabled(now), given["disabled"]))
    if "failure" in given:
        conditions.append(_failure_q(given["failure"]))
    if "stale" in given:
        stale = given["stale"]
        if stale not in STALE_CHOICES:
            raise ValueError(f"stale must be one of {list(STALE_CHOICES)}")
        conditions.append(
            {"yes": q_stale_or_missing(now), "due": q_stale_or_missing(now) & q_backfill_eligible(now)}.get(
                stale, q_backup_fresh(now)
            )
        )
    if "queued" in given:
        conditions.append(_yes_no(q_queued(), given["queued"]))
    if "ready" in given:
        conditions.append(_yes_no(q_queued(q_ready(now, max_attempts)), given["ready"]))
    if "locked" in given:
        conditions.append(_yes_no(q_queued(q_live_lock(now)), given["locked"]))
    if "search" in given:
        conditions.append(Q(full_id__icontains=given["search"]) | Q(title__icontains=given["search"]))
    return Planning.objects.filter(*conditions).order_by("full_id")


def plannings_listed(*, filters: dict, now: datetime):
    """``plannings_matching`` with what a list shows of each: its refresh state and queue row (joined: one
    row each at most) and its backup's date (not the backup: its events can be megabytes)."""
    return (
        plannings_matching(filters=filters, now=now)
        .select_related("refresh_state", "refresh_queue")
        .annotate(backup_updated_at=F("backup__updated_at"))
    )
