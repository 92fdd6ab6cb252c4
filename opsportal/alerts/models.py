"""Alert rules, the alerts they raise, the channels they notify, each notification's delivery, and mutes.

An alert row is one episode of one (rule, target): it opens ``pending`` when the condition is first seen,
turns ``alerting`` once it has held for the rule's grace, and closes ``resolved`` (or ``ok`` when it never
fired), or ``gone`` when its target is no longer observed (a container removed, an engine no longer
configured). The evaluator loads only open rows, so its cost does not grow with the history.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F
from django.utils import timezone

from opsportal.alerts import windows
from opsportal.lib.health_status import LADDER

# Longer would overflow nothing, but a typo of a few zeros would silence a rule for years: refused.
SECONDS_MAX = 30 * 24 * 3600
seconds_capped = MaxValueValidator(SECONDS_MAX, message=f"at most 30 days ({SECONDS_MAX} seconds)")
# A queue's depths are remembered this long between passes: the longest "not falling" window a rule may ask.
NOT_FALLING_MAX_SECONDS = 3600


class Rule(models.Model):
    class Kind(models.TextChoices):
        PLANNINGS_HEALTH = "plannings_health", "plannings health"
        CONTAINER = "container", "container"
        HOST = "host", "host"
        QUEUE = "queue", "queue"
        DEPLOY = "deploy", "deploy"
        FEEDS = "feeds", "feeds"
        DEPLOY_LOCK = "deploy_lock", "deploy lock held"
        DRIFT = "drift", "deploy drift"

    # The thresholds each kind reads, with their defaults (the admin validates against these keys).
    THRESHOLDS = {
        Kind.PLANNINGS_HEALTH: {"status": "degraded"},
        Kind.CONTAINER: {"stopped": True, "unhealthy": True, "restarting": True},
        Kind.HOST: {"cpu": 0.85, "mem": 0.85},
        # Not draining: deeper than depth and not fallen for not_falling_seconds, or the oldest ready
        # item waiting over oldest_seconds (runner queues; 0: off); or too many failures. A backfill's
        # deep but falling queue stays quiet.
        Kind.QUEUE: {"depth": 1000, "not_falling_seconds": 600, "oldest_seconds": 1800, "failures_last_hour": 10},
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
    THRESHOLDS[Kind.DEPLOY_LOCK] = {"max_seconds": 4 * 3600}  # a Kamal lock held longer than this
    THRESHOLDS[Kind.DRIFT] = {}  # drift lasting longer than the rule's grace_seconds
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
            elif key == "not_falling_seconds" and not 0 < value <= NOT_FALLING_MAX_SECONDS:
                raise ValidationError(
                    {"thresholds": f"not_falling_seconds: above 0, at most {NOT_FALLING_MAX_SECONDS} (an hour)"}
                )
        if self.grace_evaluations < 1:
            raise ValidationError({"grace_evaluations": "at least 1"})
        if self.flap_transitions < 2:
            raise ValidationError({"flap_transitions": "at least 2"})

    def threshold(self, key: str):
        return self.thresholds.get(key, self.THRESHOLDS[self.kind][key])

    def covers(self, target: str) -> bool:
        return not self.target or fnmatch.fnmatchcase(target, self.target)


# The Alerts page's and the API's order: open first, alerting before pending, then the history newest
# first whatever its state (ordering by the state's text would put every "ok" above every "resolved").
_ALERTING_FIRST = models.Case(models.When(state="alerting", then=models.Value(0)), default=models.Value(1))
LIST_ORDER = [F("is_open").desc(), _ALERTING_FIRST.asc(), F("started_at").desc()]
LIST_ORDER_INDEXED = [F("is_open").desc(), _ALERTING_FIRST, F("started_at").desc()]
ALERTING_RANK = _ALERTING_FIRST  # 0 alerting, 1 otherwise: the API pages on it by name (selectors.alerts_listed)


class Alert(models.Model):
    class State(models.TextChoices):
        OK = "ok", "ok (cleared before firing)"
        PENDING = "pending", "pending"
        ALERTING = "alerting", "alerting"
        RESOLVED = "resolved", "resolved"
        GONE = "gone", "closed: no longer observed"

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
    held = models.BooleanField(default=False, help_text="Held back by a deploy in progress or a maintenance window.")
    # An operator's acknowledgement of this episode: reminders stop while it stands; a resolve ends it.
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.CharField(max_length=150, blank=True, editable=False)
    ack_comment = models.CharField(max_length=300, blank=True, editable=False)
    # The evaluator's memory of this episode (streaks, transitions, last reminder): see evaluator.Track.
    track = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = LIST_ORDER
        indexes = [
            models.Index(fields=["is_open", "rule"], name="alerts_open_rule"),
            # The Alerts page and the API read in this order (open first, alerting before pending, newest).
            models.Index(*LIST_ORDER_INDEXED, name="alerts_list_order"),
            # The hourly prune: closed alerts past the retention.
            models.Index(fields=["is_open", "resolved_at"], name="alerts_closed_resolved"),
            # The deploy timeline reads the alerts fired, and those resolved, newest first a page at a time
            # (``deploy_timeline``): without these it sorted the whole history for each page.
            models.Index(fields=["-fired_at", "-id"], name="alerts_fired_recent"),
            models.Index(fields=["-resolved_at", "-id"], name="alerts_resolved_recent"),
        ]
        constraints = [
            # One open episode per (rule, target): a second evaluator pass can never open a twin.
            models.UniqueConstraint(
                fields=["rule", "target"], condition=models.Q(is_open=True), name="alerts_one_open_per_target"
            )
        ]
        permissions = [("acknowledge_alert", "Can acknowledge an alert and take it back")]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.target}"

    def save(self, *args, **kwargs):
        self.is_open = self.state in self.OPEN
        super().save(*args, **kwargs)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


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
    send_open_alerts = models.BooleanField(
        default=True,
        help_text="Added or switched on, it is sent the alerts firing then, in one message.",
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

    # The group's first alert (the webhook body's ``alert``); ``alerts`` lists every alert of the group.
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    alerts = models.ManyToManyField(Alert, blank=True, related_name="grouped_notifications")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    title = models.CharField(max_length=300)
    body = models.TextField()
    body_html = models.TextField(blank=True)  # the same, with links, for e-mail (its plain part is ``body``'s words)
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
    # "Until resolved": the alert whose resolve lifts the mute (``until`` still caps it).
    alert = models.ForeignKey(
        Alert, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="mutes"
    )
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


class MaintenanceWindowQuerySet(models.QuerySet):
    def not_over(self, now: datetime) -> MaintenanceWindowQuerySet:
        """Windows that are open or still to come at ``now``: every weekly one, and the once ones not ended."""
        return self.filter(
            models.Q(recurrence=MaintenanceWindow.Recurrence.WEEKLY)
            | models.Q(recurrence=MaintenanceWindow.Recurrence.ONCE, ends_at__gt=now)
        )


class MaintenanceWindow(models.Model):
    """Planned work: alerts of its rule (every rule when empty) and targets (a name or pattern; every
    target when empty) that start inside one of its occurrences are held, as during a deploy, and fire
    only if they outlive it. Once (``starts_at`` to ``ends_at``) or weekly (on ``weekdays`` from
    ``start_time`` for ``duration_minutes``, UTC)."""

    class Recurrence(models.TextChoices):
        ONCE = "once", "once (start and end)"
        WEEKLY = "weekly", "weekly (weekdays, start time, duration; UTC)"

    name = models.CharField(max_length=100)
    reason = models.CharField(max_length=300)
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, null=True, blank=True, related_name="maintenance_windows",
        help_text="Empty: every rule.",
    )  # fmt: skip
    target = models.CharField(
        max_length=200, blank=True, help_text="A target name or pattern (web-*); empty: every target."
    )
    recurrence = models.CharField(max_length=10, choices=Recurrence.choices, default=Recurrence.ONCE)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Once: when it opens.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Once: when it closes.")
    weekdays = models.CharField(
        max_length=20, blank=True, help_text="Weekly: days as numbers, Monday 0 to Sunday 6, comma-separated (0,3)."
    )
    start_time = models.TimeField(null=True, blank=True, help_text="Weekly: when it opens, UTC (02:00).")
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(7 * 24 * 60)], help_text="Weekly: how long it stays open."
    )
    created_by = models.CharField(max_length=150, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def days(self) -> tuple[int, ...]:
        return windows.weekdays_parse(self.weekdays)

    def clean(self) -> None:
        if self.recurrence == self.Recurrence.ONCE:
            if not self.starts_at or not self.ends_at:
                raise ValidationError("A window held once needs a start and an end.")
            if self.ends_at <= self.starts_at:
                raise ValidationError({"ends_at": "after the start"})
            return
        try:
            days = self.days
        except ValueError as exc:
            raise ValidationError({"weekdays": str(exc)}) from exc
        if not days:
            raise ValidationError({"weekdays": "at least one day, Monday 0 to Sunday 6"})
        if self.start_time is None:
            raise ValidationError({"start_time": "required for a weekly window"})
        if not self.duration_minutes:
            raise ValidationError({"duration_minutes": "required for a weekly window, at least 1"})

    def occurrence(self, now: datetime) -> windows.Span | None:
        """The occurrence open at ``now``, else the next one to come; ``None`` once it has passed for good."""
        if self.recurrence == self.Recurrence.ONCE:
            if self.starts_at is None or self.ends_at is None or self.ends_at <= now:
                return None
            return windows.Span(self.starts_at, self.ends_at)
        if self.start_time is None or not self.duration_minutes:
            return None
        return windows.weekly_occurrence(
            now, days=self.days, start=self.start_time, duration=timedelta(minutes=self.duration_minutes)
        )

    def open_at(self, now: datetime) -> bool:
        span = self.occurrence(now)
        return span is not None and span.starts_at <= now < span.ends_at

    def covers(self, *, rule_id: int, target: str) -> bool:
        return (self.rule_id is None or self.rule_id == rule_id) and (
            not self.target or fnmatch.fnmatchcase(target, self.target)
        )

    def described(self) -> str:
        """Its schedule and scope in one line (the audit trail's before/after)."""
        if self.recurrence == self.Recurrence.ONCE:
            starts_at, ends_at = (value.astimezone(windows.UTC) for value in (self.starts_at, self.ends_at))
            when = f"once {starts_at:%Y-%m-%d %H:%M} to {ends_at:%Y-%m-%d %H:%M} UTC"
        else:
            when = f"weekly on {self.weekdays} at {self.start_time:%H:%M} UTC for {self.duration_minutes} min"
        return f"{self.name}: {when}; rule {self.rule or 'any'}, target {self.target or '*'}; {self.reason}"


class EvaluatorState(models.Model):
    """One row: the evaluator's lock (claimed with a guarded update; works on SQLite and PostgreSQL)
    and what it remembers between passes (containers per engine, restart counts, the last deploy)."""

    locked_until = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=64, blank=True)
    memory = models.JSONField(default=dict, blank=True)
    last_pass_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"alerts evaluator (last pass {self.last_pass_at})"
