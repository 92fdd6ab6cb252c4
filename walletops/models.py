"""API tokens for the wallet ops endpoints, and the restart rate limit's ledger."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from opsportal.api.models import ApiToken


class RestartAttempt(models.Model):
    """The restart rate limit's ledger, not a record: who tried when, admitted or refused (``services.py``).

    The audit trail (``opsportal.audit``) is the one record of each attempt, with its outcome. This ledger
    only counts, in the database so the limits hold across every web process: admitted attempts count
    from the moment they are admitted (in flight too), which the append-only trail cannot say without a
    second row per restart; refusals past the refusal limit are counted here and get no audit row. Rows
    older than the minute the limits look at are removed as new ones come.
    """

    class Outcome(models.TextChoices):
        ADMITTED = "admitted"  # counted by WALLETOPS_RESTARTS_PER_MINUTE, finished or in flight
        REFUSED = "refused"  # counted by WALLETOPS_REFUSALS_PER_MINUTE

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="the token's owner or the portal user")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        db_table = "walletops_restart_attempt"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["actor", "created_at"], name="restart_attempt_actor")]
        # Kept on this model (renamed from RestartAudit) so that existing grants keep their rows.
        permissions = [
            ("restart_container", "Can restart containers from the portal"),
            # A health check runs a command inside the container: an action, granted like a restart.
            ("run_health_check", "Can run containers' health checks"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.outcome} at {self.created_at}"


class DeployAuditFile(models.Model):
    """How far the portal has read one host's Kamal audit file (``<service>[-<destination>]-audit.log``).

    Kamal only appends to it; a file that shrank or has another inode was replaced: read again from 0."""

    host = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    destination = models.CharField(max_length=50, blank=True, default="")
    inode = models.BigIntegerField(null=True)
    offset = models.BigIntegerField(default=0, help_text="bytes read: the end of the last whole line")
    skipped = models.PositiveIntegerField(default=0, help_text="lines that were not Kamal's (torn, foreign)")
    restarts = models.PositiveIntegerField(default=0, help_text="times the file was found truncated or replaced")
    read_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "walletops_deploy_audit_file"
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="deploy_audit_file_once")]

    def __str__(self) -> str:
        return f"{self.host}:{self.name}@{self.offset}"


class DeployAuditLine(models.Model):
    """One audit line as a host holds it; the timeline reads these (indexed by service, destination, time)."""

    file = models.ForeignKey(DeployAuditFile, on_delete=models.CASCADE, related_name="lines")
    host = models.CharField(max_length=100)
    service = models.CharField(max_length=100)
    destination = models.CharField(max_length=50, blank=True, default="")
    role = models.CharField(max_length=100, blank=True, default="")
    recorded_at = models.DateTimeField()
    performer = models.CharField(max_length=255)
    kind = models.CharField(max_length=16)
    subject = models.CharField(max_length=16, blank=True, default="")
    version = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    text = models.TextField(help_text="the message verbatim")
    offset = models.BigIntegerField(help_text="where the line starts in the file")

    class Meta:
        db_table = "walletops_deploy_audit_line"
        indexes = [models.Index(fields=["service", "destination", "-recorded_at", "-id"], name="deploy_line_recent")]

    def __str__(self) -> str:
        return f"{self.host} {self.recorded_at:%Y-%m-%dT%H:%M:%SZ} {self.text}"


class DeployHookEvent(models.Model):
    """A Kamal hook run, as the project's hook script posted its ``KAMAL_*`` variables."""

    hook = models.CharField(max_length=32)
    recorded_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    performer = models.CharField(max_length=255, blank=True, default="")
    service = models.CharField(max_length=100)
    destination = models.CharField(max_length=50, blank=True, default="")
    version = models.CharField(max_length=255, blank=True, default="")
    service_version = models.CharField(max_length=255, blank=True, default="")
    hosts = models.JSONField(default=list)
    roles = models.JSONField(default=list)
    lock = models.BooleanField(null=True)
    command = models.CharField(max_length=64, blank=True, default="")
    subcommand = models.CharField(max_length=64, blank=True, default="")
    runtime_seconds = models.PositiveIntegerField(null=True)
    token_name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        db_table = "walletops_deploy_hook_event"
        indexes = [models.Index(fields=["service", "destination", "-recorded_at", "-id"], name="deploy_hook_recent")]
        constraints = [
            # The hook retried, or the same post twice: one row.
            models.UniqueConstraint(
                fields=["hook", "service", "destination", "recorded_at", "version"], name="deploy_hook_once"
            )
        ]
        # What a person needs to stand behind the hook's token (scope deploys:write).
        permissions = [("record_deploy_events", "Can post Kamal deploy hook events")]

    def __str__(self) -> str:
        return f"{self.hook} {self.service_version or self.service} {self.recorded_at:%Y-%m-%dT%H:%M:%SZ}"


class LogStreamLease(models.Model):
    """One open live log stream, wherever it is served: the stream caps count these rows.

    Shared by every web process on every machine (the caps hold across them); a lease lapses at
    ``expires_at`` unless its stream renews it (at each heartbeat), so the streams of a process
    killed without closing them free their slots by themselves (``walletops.stream_leases``).
    """

    # Whose cap it counts against, composed in one place (stream_leases.stream_key): "user:<pk>" or "token:<pk>".
    key = models.CharField(max_length=64, db_index=True)
    # The portal page (a browser tab) that opened it: a new stream of the same page takes this one's slot.
    page = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "walletops_log_stream_lease"

    def __str__(self) -> str:
        return f"{self.key} until {self.expires_at:%H:%M:%S}"
