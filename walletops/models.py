"""The audit trail of container restarts (API tokens are the kit's: ``opsportal.api.models``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from opsportal.api.models import ApiToken


class RestartAudit(models.Model):
    """One row per restart attempt, allowed or not: who, which token, which container, what happened."""

    class Outcome(models.TextChoices):
        STARTED = "started"  # admitted by the rate limit, restart in flight: becomes restarted or failed
        RESTARTED = "restarted"
        REFUSED = "refused"
        FAILED = "failed"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="the token's owner or the admin user")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL)
    token_name = models.CharField(max_length=100, blank=True, default="")
    token_owner = models.CharField(max_length=150, blank=True, default="", help_text="the token's owner then")
    token_issued_by = models.CharField(
        max_length=150, blank=True, default="", help_text="who issued the token (empty: the command line)"
    )
    env = models.CharField(max_length=50)
    container = models.CharField(max_length=255)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    # Refusals past WALLETOPS_REFUSALS_PER_MINUTE get no row of their own: they are counted on the last one.
    repeats = models.PositiveIntegerField(default=0, help_text="further refusals within the minute, not rowed")

    class Meta:
        db_table = "walletops_restart_audit"
        ordering = ["-created_at"]
        permissions = [
            ("restart_container", "Can restart containers from the portal"),
            # A health check runs a command inside the container: an action, granted like a restart.
            ("run_health_check", "Can run containers' health checks"),
        ]

    def __str__(self) -> str:
        return f"{self.container} {self.outcome} by {self.actor}"
