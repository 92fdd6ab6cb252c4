"""The Celery processes' own records, in the database every page reads.

Celery's view of its workers (``inspect()``, events, gossip, mingle and heartbeats) is broadcast
traffic, the first thing to break past a few hundred workers (celery#5079, #5243): the workers run
``--without-gossip --without-mingle --without-heartbeat`` and the portal never asks the broker who is
there. Each worker writes its own row instead, and the beat tasks claim their runs here so that
two beats at once (a deploy overlapping containers) run each task once per period.
"""

from __future__ import annotations

from django.db import models


class WorkerProcess(models.Model):
    """One Celery worker (its node name), as it reports itself every ``REPORT_SECONDS``."""

    REPORT_SECONDS = 30
    STALE_AFTER_REPORTS = 3  # no report for 3 periods: shown stale (killed, or its machine gone)

    name = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField()
    queues = models.CharField(max_length=1000, blank=True, default="")
    pool = models.CharField(max_length=50, blank=True, default="")
    concurrency = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    last_task = models.CharField(max_length=200, blank=True, default="")
    last_task_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "opsportal_worker_process"
        verbose_name = "worker process"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


class PeriodicRun(models.Model):
    """A beat task's last run: the guard that makes it run once per period whatever the number of beats."""

    name = models.CharField(max_length=200, unique=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    previous_run_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "opsportal_periodic_run"
        verbose_name = "periodic run"

    def __str__(self) -> str:
        return f"{self.name}: last run {self.last_run_at}"
