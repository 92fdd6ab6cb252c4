"""The four tables mirrored from upstream PlanningSup, plus the portal's own job state.

Mirrored tables keep upstream's exact names, columns, defaults and indexes so a
PlanningSup database can be adopted with ``migrate --fake-initial``. Foreign keys
are declared ``db_constraint=False`` because the migration creates them itself,
with upstream's names and ``ON DELETE CASCADE`` (Django 5.2 only cascades in
Python); Django still cascades ORM deletes on every database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from opsportal.lib.health_status import HealthStatus

LOCK_TTL_SECONDS = 5 * 60
LOCK_TTL = timedelta(seconds=LOCK_TTL_SECONDS)
# Job ids, upstream's names (also the values of ALLOWED_JOBS).
JOB_BACKFILL = "plannings-backfill"
JOB_REFRESH_WORKER = "plannings-refresh-worker"


class TransactionNow(Now):
    """Upstream's ``DEFAULT now()`` on PostgreSQL (Django's Now is statement_timestamp())."""

    def as_postgresql(self, compiler, connection, **extra_context):
        return "now()", []


# --- Refresh queue row states -----------------------------------------------------------
# Defined once, here: the selectors' health counts, the worker's claim and sweep,
# the backfill, the admin filters and the operator's actions all read these.


def lock_cutoff(now: datetime) -> datetime:
    """Locks taken at or after this are live: a lock exactly ``LOCK_TTL`` old is still live."""
    return now - LOCK_TTL


def q_alive(max_attempts: int) -> Q:
    return Q(attempts__lt=max_attempts)


def q_dead(max_attempts: int) -> Q:
    """Every attempt used: the worker never claims it again (the sweep disables it)."""
    return Q(attempts__gte=max_attempts)


def q_due(now: datetime) -> Q:
    return Q(next_attempt_at__lte=now)


def q_not_due(now: datetime) -> Q:
    return Q(next_attempt_at__gt=now)


def q_has_lock() -> Q:
    """A lock, live or expired (what "release lock" clears)."""
    return Q(locked_at__isnull=False)


def q_live_lock(now: datetime) -> Q:
    return Q(locked_at__gte=lock_cutoff(now))


def q_unlocked(now: datetime) -> Q:
    """No lock, or an expired one: the claim may take the row."""
    return Q(locked_at__isnull=True) | Q(locked_at__lt=lock_cutoff(now))


def q_ready(now: datetime, max_attempts: int) -> Q:
    """What the worker's next claim may take: alive, due and not live-locked."""
    return q_alive(max_attempts) & q_due(now) & q_unlocked(now)


def q_waiting(now: datetime, max_attempts: int) -> Q:
    """Alive and unlocked but not yet due (backoff)."""
    return q_alive(max_attempts) & q_not_due(now) & q_unlocked(now)


def q_locked(now: datetime, max_attempts: int) -> Q:
    """The health figure's "locked": alive and live-locked (a last attempt in flight is not counted)."""
    return q_alive(max_attempts) & q_live_lock(now)


def q_in_backoff(now: datetime, max_attempts: int) -> Q:
    """Alive and not yet due, whatever the lock ("retry now" brings these forward)."""
    return q_alive(max_attempts) & q_not_due(now)


# The queue row states, as the health endpoint counts them and every page names them.
QUEUE_STATE_LABELS = {
    "ready": "ready",
    "waiting": "waiting (backoff)",
    "locked": "locked",
    "dead": "dead (max attempts)",
}


def queue_row_state(row: PlanningRefreshQueue, now: datetime, max_attempts: int) -> str:
    """One row's state by the rules of ``queue_states`` (and the SQL below), read in Python for one row:
    dead first (whatever its lock), then a live lock, then due or not."""
    if row.attempts >= max_attempts:
        return "dead"
    if row.lock_is_live(now):
        return "locked"
    return "ready" if row.next_attempt_at <= now else "waiting"


def queue_states(now: datetime, max_attempts: int) -> dict[str, Q]:
    """The health endpoint's split of the queue: every row is in exactly one state."""
    return {
        "ready": q_ready(now, max_attempts),
        "waiting": q_waiting(now, max_attempts),
        "locked": q_locked(now, max_attempts),
        "dead": q_dead(max_attempts),
    }


# The same rules as SQL text, for the raw statements (the claim with SKIP LOCKED, the
# one-statement health counts); their parameters come from ``queue_sql_params``.
SQL_ALIVE = "attempts < %(max_attempts)s"
SQL_DUE = "next_attempt_at <= %(now)s"
SQL_UNLOCKED = "(locked_at IS NULL OR locked_at < %(lock_cutoff)s)"
SQL_LIVE_LOCK = "locked_at >= %(lock_cutoff)s"
SQL_READY = f"{SQL_DUE} AND {SQL_ALIVE} AND {SQL_UNLOCKED}"


def queue_sql_params(*, now: datetime, max_attempts: int) -> dict:
    # SQLite keeps datetimes as text: raw SQL must pass them in Django's stored form.
    adapt = connection.ops.adapt_datetimefield_value
    return {"now": adapt(now), "lock_cutoff": adapt(lock_cutoff(now)), "max_attempts": max_attempts}


class RefreshQueueQuerySet(models.QuerySet):
    def ready(self, *, now: datetime, max_attempts: int):
        return self.filter(q_ready(now, max_attempts))

    def with_lock(self):
        return self.filter(q_has_lock())

    def in_backoff(self, *, now: datetime, max_attempts: int):
        return self.filter(q_in_backoff(now, max_attempts))

    def sweepable(self, *, now: datetime, max_attempts: int):
        """Dead rows whose last claim is not live any more: nobody will finish them."""
        return self.filter(q_dead(max_attempts)).exclude(q_live_lock(now))


# --- Refresh state and backups: disabled, stale, missing, queued -------------------------


def q_disabled(now: datetime, prefix: str = "") -> Q:
    """A refresh state disabled until after ``now`` (``prefix`` reaches it through a relation)."""
    return Q(**{f"{prefix}disabled_until__gt": now})


def stale_before(now: datetime) -> datetime:
    """Backups last updated strictly before this are stale."""
    return now - timedelta(hours=settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS)


def q_backup_missing() -> Q:
    return Q(backup__isnull=True)


def q_backup_stale(now: datetime) -> Q:
    return Q(backup__updated_at__lt=stale_before(now))


def q_backup_fresh(now: datetime) -> Q:
    return Q(backup__updated_at__gte=stale_before(now))


def q_stale_or_missing(now: datetime) -> Q:
    return q_backup_missing() | q_backup_stale(now)


def q_queued(condition: Q | None = None) -> Q:
    """The planning has a queue row (matching ``condition``).

    EXISTS rather than a join, so that its negation is exact for plannings without a queue row.
    """
    rows = PlanningRefreshQueue.objects.filter(planning_id=OuterRef("pk"))
    return Q(Exists(rows.filter(condition) if condition is not None else rows))


def q_planning_disabled(now: datetime) -> Q:
    return Q(Exists(PlanningRefreshState.objects.filter(q_disabled(now), planning_id=OuterRef("pk"))))


def q_backfill_eligible(now: datetime) -> Q:
    """Neither disabled nor already queued: the backfill may enqueue it."""
    return ~q_planning_disabled(now) & ~q_queued()


class RefreshStateQuerySet(models.QuerySet):
    def disabled(self, *, now: datetime):
        return self.filter(q_disabled(now))


class PlanningQuerySet(models.QuerySet):
    def backfill_eligible(self, *, now: datetime):
        return self.filter(q_backfill_eligible(now))


class Planning(models.Model):
    full_id = models.CharField(max_length=255, primary_key=True)
    planning_id = models.CharField(max_length=255)
    url = models.TextField(null=True, blank=True)
    title = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())
    updated_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())

    objects = PlanningQuerySet.as_manager()

    class Meta:
        db_table = "plannings"
        ordering = ["full_id"]
        indexes = [models.Index(fields=["title"], name="plannings_title_idx")]

    def __str__(self) -> str:
        return self.full_id


class PlanningBackup(models.Model):
    planning = models.OneToOneField(
        Planning,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="planning_full_id",
        db_constraint=False,
        related_name="backup",
    )
    events = models.JSONField()
    signature = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())

    class Meta:
        db_table = "plannings_backup"
        indexes = [models.Index(fields=["updated_at"], name="plannings_backup_latest_updated_at_idx")]

    def __str__(self) -> str:
        return f"backup of {self.planning_id}"


class PlanningRefreshQueue(models.Model):
    planning = models.OneToOneField(
        Planning,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="planning_full_id",
        db_constraint=False,
        related_name="refresh_queue",
    )
    priority = models.IntegerField(default=0, db_default=0)
    attempts = models.IntegerField(default=0, db_default=0)
    requested_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())
    locked_at = models.DateTimeField(null=True, blank=True)
    lock_owner = models.TextField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)

    objects = RefreshQueueQuerySet.as_manager()

    class Meta:
        db_table = "plannings_refresh_queue"
        verbose_name = "refresh queue item"
        indexes = [
            models.Index(
                fields=["next_attempt_at", "priority", "requested_at"],
                name="plannings_refresh_queue_pick_idx",
            ),
            models.Index(fields=["next_attempt_at"], name="plannings_refresh_queue_next_attempt_at_idx"),
            models.Index(fields=["priority"], name="plannings_refresh_queue_priority_idx"),
        ]

    def __str__(self) -> str:
        return f"queued {self.planning_id}"

    def lock_is_live(self, now: datetime) -> bool:
        return self.locked_at is not None and self.locked_at >= lock_cutoff(now)


class PlanningRefreshState(models.Model):
    planning = models.OneToOneField(
        Planning,
        primary_key=True,
        on_delete=models.CASCADE,
        db_column="planning_full_id",
        db_constraint=False,
        related_name="refresh_state",
    )
    disabled_until = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.IntegerField(default=0, db_default=0)
    last_failure_kind = models.TextField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())

    objects = RefreshStateQuerySet.as_manager()

    class Meta:
        db_table = "plannings_refresh_state"
        verbose_name = "refresh state"
        indexes = [models.Index(fields=["disabled_until"], name="plannings_refresh_state_disabled_until_idx")]

    def __str__(self) -> str:
        return f"state of {self.planning_id}"


# --- The portal's own tables (not upstream's) --------------------------------------


class JobRuntime(models.Model):
    """The runtime state of one background job, shared by every process that reads health.

    Upstream kept this in memory; here workers run in other processes and on other
    machines than the web process, so it lives in the database.
    """

    class State(models.TextChoices):
        STARTING = "starting"
        IDLE = "idle"
        WORKING = "working"
        PAUSED = "paused"
        QUIET_HOURS = "quiet_hours"
        STOPPED = "stopped"
        EXITED = "exited"
        CRASHED = "crashed"

    job_id = models.CharField(max_length=64, primary_key=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.STARTING)
    started_at = models.DateTimeField(null=True, blank=True)
    last_loop_at = models.DateTimeField(null=True, blank=True)
    last_work_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # The refresh worker's adaptive idle polling and its dead-row sweep.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_delay_ms = models.PositiveIntegerField(default=0)
    last_sweep_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "opsportal_job_runtime"
        verbose_name = "job runtime"
        # The portal's operator actions, granted per user or group in the admin.
        permissions = [
            ("operate_plannings", "Can refresh, re-enable, release and retry plannings"),
            ("control_jobs", "Can pause, resume and start the plannings jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.state}"


class JobsSharedState(models.Model):
    """What upstream kept in its web process's memory, made durable and shared: a single row.

    ``paused`` is the operator's pause switch for both jobs; ``last_write_*`` is the
    most recent backup write (``lastBackupWrite`` of the health endpoint), which
    upstream lost on restart.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=150, blank=True, default="")
    last_write_planning_full_id = models.CharField(max_length=255, null=True, blank=True)
    last_write_changed = models.BooleanField(null=True, blank=True)
    last_write_nb_events = models.IntegerField(null=True, blank=True)
    last_write_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "opsportal_jobs_shared_state"
        verbose_name = "jobs shared state"
        verbose_name_plural = "jobs shared state"

    def __str__(self) -> str:
        return "jobs paused" if self.paused else "jobs running"


class HealthSnapshot(models.Model):
    """The plannings health report at one minute, for the dashboard's 24 h history.

    ``taken_at`` is truncated to the minute and unique: every beat or worker that
    records the same minute inserts the same key, so the minute keeps one row.
    """

    Status = HealthStatus  # the one ladder (opsportal.lib.health_status)

    taken_at = models.DateTimeField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    issues = models.JSONField(default=list)
    queue_depth = models.PositiveIntegerField(default=0)
    queue_ready = models.PositiveIntegerField(default=0)
    queue_locked = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    covered = models.PositiveIntegerField(default=0)
    disabled = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "opsportal_health_snapshot"
        verbose_name = "health snapshot"
        ordering = ["-taken_at"]

    def __str__(self) -> str:
        return f"{self.taken_at:%Y-%m-%d %H:%M} {self.status}"


class RefreshAttempt(models.Model):
    """One fetch of a planning's feed by the refresh worker, whatever its outcome: the planning's story.

    Written with the worker's writes: a failure's with its state, successes' in groups (one statement a group); kept
    ``PLANNINGS_ATTEMPTS_RETENTION_DAYS`` and at most ``ATTEMPTS_KEPT_PER_PLANNING`` per
    planning (``services.refresh_attempts_prune``). No database foreign key: a planning
    deleted by a catalog import while its feed was being fetched must not fail the
    worker's whole group; such rows age out, and ORM deletes still cascade.
    """

    SUCCESS = "success"
    NOT_MODIFIED = "not_modified"
    UNEXPECTED = "unexpected"
    BODY_HEAD_CHARS = 200
    ERROR_CHARS = 500

    planning = models.ForeignKey(
        Planning,
        on_delete=models.CASCADE,
        db_column="planning_full_id",
        db_constraint=False,
        related_name="refresh_attempts",
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    # success, not_modified, a failure kind of plannings.policy, or unexpected (a bug, not the feed).
    outcome = models.CharField(max_length=32)
    disabled = models.BooleanField(default=False, help_text="this attempt disabled the planning")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    bytes = models.PositiveIntegerField(null=True, blank=True)
    events = models.PositiveIntegerField(null=True, blank=True)
    body_head = models.CharField(max_length=BODY_HEAD_CHARS, blank=True, default="")
    error = models.CharField(max_length=ERROR_CHARS, blank=True, default="")
    worker = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        db_table = "opsportal_refresh_attempt"
        verbose_name = "refresh attempt"
        indexes = [
            # A planning's newest attempts (its page, the per-planning cap), and the age pruning.
            models.Index(fields=["planning", "-started_at", "-id"], name="refresh_attempt_recent_idx"),
            models.Index(fields=["started_at"], name="refresh_attempt_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.planning_id} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class HostSlot(models.Model):
    """One of a feed host's ``PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY`` fetch slots, leased by a drain.

    The per-host limit holds across every drain on every machine because a fetch starts only
    with a slot row won by a guarded ``INSERT … ON CONFLICT DO UPDATE … WHERE leased_until <
    now`` (``plannings.slots``). The lease, renewed while the drain runs, is what frees the
    slots of a drain killed with SIGKILL: they are free again ``leased_until`` later at most.
    """

    host = models.CharField(max_length=255)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=150)
    leased_until = models.DateTimeField()

    class Meta:
        db_table = "plannings_host_slot"
        verbose_name = "feed host slot"
        constraints = [models.UniqueConstraint(fields=["host", "slot"], name="plannings_host_slot_unique")]
        indexes = [models.Index(fields=["holder"], name="plannings_host_slot_holder_idx")]

    def __str__(self) -> str:
        return f"{self.host} slot {self.slot} held by {self.holder} until {self.leased_until:%H:%M:%S}"
