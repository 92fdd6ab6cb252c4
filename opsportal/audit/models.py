"""The audit trail: one row per operator action, allowed or not.

Who (the user, and the token when the action came through the API), through what (portal, API or
command line), what (a dotted action name), on which objects, the fields it changed (before and
after, secrets masked), the outcome and when. Rows are only ever added (``services.audit_record``),
each chained to the one before by its hash (``chain.py``); on PostgreSQL a trigger refuses UPDATE and
DELETE but the retention's prune (``audit_prune``), and ``audit_verify`` checks the chain.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

# Objects named on one row: a select-all over the whole catalog is recorded as its count plus the
# first ids, so one action never writes a row of megabytes.
TARGETS_KEPT = 100


class AuditEvent(models.Model):
    class Via(models.TextChoices):
        PORTAL = "portal"
        API = "api"
        CLI = "cli"

    class Outcome(models.TextChoices):
        OK = "ok"  # done (possibly on fewer objects than asked: see ``changed``)
        REFUSED = "refused"  # not allowed, or not valid: nothing was done
        FAILED = "failed"  # allowed, but the work failed (an engine or a broker down)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="the user, or the token's owner")
    via = models.CharField(max_length=8, choices=Via.choices)
    token_name = models.CharField(max_length=100, blank=True, default="", help_text="the API token used, if any")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. plannings.refresh_now")
    target_type = models.CharField(max_length=32, blank=True, default="", help_text="planning, container, token, job")
    targets = models.JSONField(default=list, blank=True, help_text=f"the objects' ids (the first {TARGETS_KEPT})")
    target_count = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(null=True, blank=True, help_text="how many objects the action changed")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, db_index=True)
    detail = models.TextField(blank=True, default="")
    changes = models.JSONField(
        default=dict, blank=True, help_text='the fields changed: {"field": [before, after]}, secrets masked'
    )
    prev_hash = models.CharField(max_length=64, blank=True, default="", help_text="the previous row's row_hash")
    row_hash = models.CharField(max_length=64, blank=True, default="", help_text="SHA-256 of this row and prev_hash")

    class Meta:
        db_table = "audit_event"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="audit_actor_recent")]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} by {self.actor} via {self.via}"
