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
