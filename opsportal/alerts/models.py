"""Alert rules, the alerts they raise, the channels they notify, each notification's delivery, and mutes.

An alert row is one episode of one (rule, target): it opens ``pending`` when the condition is first seen,
turns ``alerting`` once it has held for the rule's grace, and closes ``resolved`` (or ``ok`` when it never
fired). The evaluator loads only open rows, so its cost does not grow with the history.
"""

from __future__ import annotations

import fnmatch

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from opsportal.lib.health_status import LADDER

# Longer would overflow nothing, but a typo of a few zeros would silence a rule for years: refused.
SECONDS_MAX = 30 * 24 * 3600
seconds_capped = MaxValueValidator(SECONDS_MAX, message=f"at most 30 days ({SECONDS_MAX} seconds)")


class Rule(models.Model):
    class Kind(models.TextChoices):
        PLANNINGS_HEALTH = "plannings_health", "plannings health"
        CONTAINER = "container", "container"
        HOST = "host", "host"
        QUEUE = "queue", "queue"
        DEPLOY = "deploy", "deploy"
        FEEDS = "feeds", "feeds"

    # The thresholds each kind reads, with their defaults (the admin validates against these keys).
    THRESHOLDS = {
        Kind.PLANNINGS_HEALTH: {"status": "degraded"},
        Kind.CONTAINER: {"stopped": True, "unhealthy": True, "restarting": True},
        Kind.HOST: {"cpu": 0.85, "mem": 0.85},
        Kind.QUEUE: {"depth": 1000, "failures_last_hour": 10},
        Kind.DEPLOY: {},
        # Per host: share of its feeds failing (over it, with at least host_min_failing failing). The catalog:
        # share failing, backups covered fallen by a share within an hour, newest backup older (0: off).
        # make run's demo fails about 16 % of its feeds on purpose, two hosts over a quarter: both show.
        Kind.FEEDS: {
            "host_share": 0.25,
            "host_min_failing": 3,
            "catalog_share": 0.10,
            "covered_drop": 0.01,
            "backup_age_seconds": 3600,
        },
    }
    HEALTH_STATUSES = tuple(status.value for status in LADDER)  # best first (opsportal.lib.health_status)

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    target = models.CharField(
        max_length=200, blank=True, help_text="Empty: every target of the kind. Else a name or a pattern (web-*)."
    )
    thresholds = models.JSONField(default=dict, blank=True, help_text="Per kind; missing keys take the defaults.")
    grace_evaluations = models.PositiveIntegerField(
        default=3, help_text="Consecutive evaluations a condition must hold to fire, and be gone to resolve."
    )
    grace_seconds = models.PositiveIntegerField(
        default=120, validators=[seconds_capped], help_text="And for at least this long (both must be met)."
    )
    reminder_seconds = models.PositiveIntegerField(
        default=4 * 3600,
        validators=[seconds_capped],
        help_text="A reminder at most this often while alerting; 0: none.",
    )
    flap_transitions = models.PositiveIntegerField(
        default=4, help_text="This many changes of the condition within the flap window mark the alert flapping."
    )
    flap_window_seconds = models.PositiveIntegerField(default=3600, validators=[seconds_capped])
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        known = self.THRESHOLDS.get(self.kind, {})
        if not isinstance(self.thresholds, dict):
            raise ValidationError({"thresholds": "a JSON object, e.g. {}"})
        unknown = sorted(set(self.thresholds) - set(known))
        if unknown:
            raise ValidationError(
                {"thresholds": f"unknown for {self.kind}: {', '.join(unknown)}; known: {', '.join(known) or 'none'}"}
            )
        for key, value in self.thresholds.items():
            default = known[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValidationError({"thresholds": f"{key}: true or false"})
            elif key == "status":
                if value not in self.HEALTH_STATUSES[1:]:
                    raise ValidationError({"thresholds": "status: degraded or unhealthy"})
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                    raise ValidationError({"thresholds": f"{key}: a fraction above 0, at most 1 (0.85)"})
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError({"thresholds": f"{key}: a whole number, 0 or more"})
        if self.grace_evaluations < 1:
            raise ValidationError({"grace_evaluations": "at least 1"})
        if self.flap_transitions < 2:
            raise ValidationError({"flap_transitions": "at least 2"})

    def threshold(self, key: str):
        return self.thresholds.get(key, self.THRESHOLDS[self.kind][key])

    def covers(self, target: str) -> bool:
        return not self.target or fnmatch.fnmatchcase(target, self.target)


class Alert(models.Model):
    class State(models.TextChoices):
        OK = "ok", "ok (cleared before firing)"
        PENDING = "pending", "pending"
        ALERTING = "alerting", "alerting"
        RESOLVED = "resolved", "resolved"

    OPEN = (State.PENDING, State.ALERTING)

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    target = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    is_open = models.BooleanField(default=True, editable=False)  # indexed: the evaluator's only read
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    fired_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    flapping = models.BooleanField(default=False)
    held = models.BooleanField(default=False, help_text="Held back by a deploy in progress.")
    # The evaluator's memory of this episode (streaks, transitions, last reminder): see evaluator.Track.
    track = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-is_open", "-started_at"]
        indexes = [
            models.Index(fields=["is_open", "rule"], name="alerts_open_rule"),
            # The Alerts page and the API read in this order (open first, alerting before pending, newest).
            models.Index(fields=["-is_open", "state", "-started_at"], name="alerts_list_order"),
            # The hourly prune: closed alerts past the retention.
            models.Index(fields=["is_open", "resolved_at"], name="alerts_closed_resolved"),
        ]
        constraints = [
            # One open episode per (rule, target): a second evaluator pass can never open a twin.
            models.UniqueConstraint(
                fields=["rule", "target"], condition=models.Q(is_open=True), name="alerts_one_open_per_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.target}"

    def save(self, *args, **kwargs):
        self.is_open = self.state in self.OPEN
        super().save(*args, **kwargs)


class Channel(models.Model):
    class Kind(models.TextChoices):
        APPRISE = "apprise", "Apprise URL (e-mail, Slack, Teams, Telegram, ntfy...)"
        WEBHOOK = "webhook", "Webhook (POSTs the portal's JSON body)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.APPRISE)
    url = models.CharField(
        max_length=2000,
        help_text="An Apprise URL (mailto://, slack://...) or a webhook URL; shown masked.",
    )
    enabled = models.BooleanField(default=True)
    kinds = models.CharField(
        max_length=100,
        default="fired,reminder,resolved,deploy",
        help_text="Kinds it receives, comma-separated: fired, reminder, resolved, deploy.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def receives(self, kind: str) -> bool:
        return kind in {k.strip() for k in self.kinds.split(",")}


class Notification(models.Model):
    class Kind(models.TextChoices):
        FIRED = "fired"
        REMINDER = "reminder"
        RESOLVED = "resolved"
        DEPLOY = "deploy"
        TEST = "test"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        MUTED = "muted", "muted (recorded, not sent)"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    title = models.CharField(max_length=300)
    body = models.TextField()
    payload = models.JSONField(default=dict)  # the webhook's JSON body, kept as sent
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="alerts_notif_due"),
            models.Index(fields=["kind", "created_at"], name="alerts_notif_kind_created"),  # the prune of tests
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.channel}"


class Mute(models.Model):
    """Silences notifications of one rule, of one target (under any rule), or both, until a time. Alerts
    are still evaluated and recorded; their notifications are recorded as muted."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, null=True, blank=True, related_name="mutes")
    target = models.CharField(
        max_length=200, blank=True, help_text="A target name or pattern; empty: all of the rule's."
    )
    until = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.CharField(max_length=150, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-until"]

    def __str__(self) -> str:
        return f"mute {self.rule or 'any rule'} {self.target or ''} until {self.until:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.rule_id is None and not self.target:
            raise ValidationError("Mute a rule, a target, or both.")
        if self.until and self.until <= timezone.now():
            raise ValidationError({"until": "a time in the future"})

    def covers(self, *, rule_id: int, target: str) -> bool:
        return (self.rule_id is None or self.rule_id == rule_id) and (
            not self.target or fnmatch.fnmatchcase(target, self.target)
        )


class EvaluatorState(models.Model):
    """One row: the evaluator's lock (claimed with a guarded update; works on SQLite and PostgreSQL)
    and what it remembers between passes (containers per engine, restart counts, the last deploy)."""

    locked_until = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=64, blank=True)
    memory = models.JSONField(default=dict, blank=True)
    last_pass_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"alerts evaluator (last pass {self.last_pass_at})"
