"""The four tables mirrored from upstream PlanningSup, plus the portal's own job state.

Mirrored tables keep upstream's exact names, columns, defaults and indexes so a
PlanningSup database can be adopted with ``migrate --fake-initial``. Foreign keys
are declared ``db_constraint=False`` because the migration creates them itself,
with upstream's names and ``ON DELETE CASCADE`` (Django 5.2 only cascades in
Python); Django still cascades ORM deletes on every database.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

LOCK_TTL_SECONDS = 5 * 60
# Job ids, upstream's names (also the values of ALLOWED_JOBS).
JOB_BACKFILL = "plannings-backfill"
JOB_REFRESH_WORKER = "plannings-refresh-worker"


class TransactionNow(Now):
    """Upstream's ``DEFAULT now()`` on PostgreSQL (Django's Now is statement_timestamp())."""

    def as_postgresql(self, compiler, connection, **extra_context):
        return "now()", []


def planning_host(full_id: str) -> str:
    """The "host" of ops payloads: the catalog slug, i.e. the first segment of the full id."""
    return full_id.split(".", 1)[0]


class Planning(models.Model):
    full_id = models.CharField(max_length=255, primary_key=True)
    planning_id = models.CharField(max_length=255)
    url = models.TextField(null=True, blank=True)
    title = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())
    updated_at = models.DateTimeField(default=timezone.now, db_default=TransactionNow())

    class Meta:
        db_table = "plannings"
        ordering = ["full_id"]
        indexes = [models.Index(fields=["title"], name="plannings_title_idx")]

    def __str__(self) -> str:
        return self.full_id

    @property
    def host(self) -> str:
        return planning_host(self.full_id)


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

    class Status(models.TextChoices):
        HEALTHY = "healthy"
        DEGRADED = "degraded"
        UNHEALTHY = "unhealthy"

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
