"""Writes: one evaluation pass (under the evaluator lock), the notifications it queues, mutes.

Each step returns what it did, so tests call steps directly.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from opsportal.alerts import evaluator, messages, observe
from opsportal.alerts.conditions import condition
from opsportal.alerts.models import (
    SECONDS_MAX,
    Alert,
    Channel,
    EvaluatorState,
    MaintenanceWindow,
    Mute,
    Notification,
    Rule,
)
from opsportal.alerts.scopes import ACKNOWLEDGE_PERMISSION, MUTE_PERMISSION, SCOPE_MUTE, UNMUTE_PERMISSION
from opsportal.audit.changes import changes_collected
from opsportal.audit.services import audit_record, audit_refusal_record
from opsportal.lib.actors import Actor

Kind = Rule.Kind
OBSERVERS = {
    Kind.PLANNINGS_HEALTH: observe.plannings_observe,
    Kind.CONTAINER: observe.containers_observe,
    Kind.HOST: observe.hosts_observe,
    Kind.QUEUE: observe.queues_observe,
    Kind.FEEDS: observe.feeds_observe,
    Kind.DEPLOY_LOCK: observe.deploy_locks_observe,
    Kind.DRIFT: observe.drift_observe,
}
STATE_ROW = 1
log = logging.getLogger(__name__)


def evaluator_claim(*, now: datetime) -> str | None:
    """Claim the evaluator lock with a guarded update: the one caller that wins gets a token. A lock
    left by a killed worker frees itself after the task's time limit."""
    EvaluatorState.objects.get_or_create(pk=STATE_ROW)
    token = uuid.uuid4().hex
    won = (
        EvaluatorState.objects.filter(pk=STATE_ROW)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .update(locked_until=now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT), owner=token)
    )
    return token if won == 1 else None


def evaluator_release(*, token: str) -> None:
    EvaluatorState.objects.filter(pk=STATE_ROW, owner=token).update(locked_until=None, owner="")


def _policy(rule: Rule) -> evaluator.Policy:
    return evaluator.Policy(
        grace_evaluations=rule.grace_evaluations,
        grace_seconds=rule.grace_seconds,
        reminder_seconds=rule.reminder_seconds,
        flap_transitions=rule.flap_transitions,
        flap_window_seconds=rule.flap_window_seconds,
    )


@dataclass(frozen=True)
class Event:
    """An alert's event of this pass: ``fired``, ``reminder``, ``resolved``, ``gone`` or ``deploy``;
    ``reason`` says why a [ALERT] goes out again (messages.ALREADY_OPEN, messages.MUTE_ENDED)."""

    event: str
    alert: Alert
    reason: str = ""


def _notification(*, event: Event, alerts: list[Alert], channel: Channel, status: str, now: datetime):
    message = messages.message_build(event=event.event, alerts=alerts, now=now, reason=event.reason)
    muted = status == Notification.Status.MUTED
    return Notification(
        alert=alerts[0],
        channel=channel,
        kind=_kind(event.event),
        status=status,
        title=_capped(message.title, Notification, "title"),
        body=message.body,
        body_html=message.body_html,
        payload={**message.payload, "title": _capped(message.title, Notification, "title")},
        created_at=now,
        next_attempt_at=None if muted else now,
    )


def _kind(event: str) -> str:
    return Notification.Kind.RESOLVED if event == messages.GONE else event


def notifications_group_queue(
    *, events: list[Event], now: datetime, muted, channels: list[Channel], heard: set[tuple[int, int]] = frozenset()
) -> int:
    """One notification per channel for each group of ``events`` (same rule, event and reason): a
    group lists its alerts, each still its own alert row. ``muted(alert)`` says whether a mute covers
    it: those are recorded in a second, muted notification, except a recovery (resolved, gone) of an
    alert whose [ALERT] or reminder the channel got (``heard``: (alert id, channel id)), which is sent."""
    groups: dict[tuple, list[Event]] = {}
    for event in events:
        # The open alerts a new channel is sent go in one message, whatever their rules.
        rule_id = None if event.reason == messages.ALREADY_OPEN else event.alert.rule_id
        groups.setdefault((rule_id, event.event, event.reason), []).append(event)
    rows, members = [], []
    for group in groups.values():
        group.sort(key=lambda event: (event.alert.rule.name, event.alert.target))
        first, kind = group[0], _kind(group[0].event)
        recovery = first.event in (Notification.Kind.RESOLVED, messages.GONE)
        for channel in channels:
            if not channel.receives(kind):
                continue
            sent, silent = [], []
            for event in group:
                hears = recovery and (event.alert.pk, channel.pk) in heard
                (silent if muted(event.alert) and not hears else sent).append(event.alert)
            for alerts, status in ((sent, Notification.Status.PENDING), (silent, Notification.Status.MUTED)):
                if alerts:
                    rows.append(_notification(event=first, alerts=alerts, channel=channel, status=status, now=now))
                    members.append(alerts)
    if not rows:
        return 0
    Notification.objects.bulk_create(rows)
    Through = Notification.alerts.through
    Through.objects.bulk_create(
        [
            Through(notification_id=row.pk, alert_id=alert.pk)
            for row, alerts in zip(rows, members, strict=True)
            for alert in alerts
        ]
    )
    return len(rows)


def notifications_queue(*, alert: Alert, kind: str, now: datetime, muted: bool, channels: list[Channel]) -> int:
    """One alert's notification to each channel that takes ``kind`` (each delivered and retried on its
    own). Muted: recorded as muted, never sent."""
    return notifications_group_queue(
        events=[Event(kind, alert)], now=now, muted=lambda _alert: muted, channels=channels
    )


def channels_heard(*, alert_ids: list[int]) -> set[tuple[int, int]]:
    """(alert id, channel id) for each channel that was sent (or is being sent) an alert's [ALERT] or
    reminder: its recovery reaches them even through a mute."""
    if not alert_ids:
        return set()
    rows = Notification.alerts.through.objects.filter(
        alert_id__in=alert_ids,
        notification__kind__in=[Notification.Kind.FIRED, Notification.Kind.REMINDER],
        notification__status__in=[Notification.Status.PENDING, Notification.Status.SENT],
    ).values_list("alert_id", "notification__channel_id")
    return set(rows)


@dataclass
class PassResult:
    ran: bool = False
    opened: int = 0
    fired: int = 0
    resolved: int = 0
    reminders: int = 0
    held: int = 0
    notifications: int = 0
    errors: list[str] = field(default_factory=list)


def _capped(text: str, model, field: str) -> str:
    """``text`` cut to the column's length (a deploy tag is whatever the deploy tooling wrote)."""
    limit = model._meta.get_field(field).max_length
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _deploy_event(*, rule: Rule, deploy: observe.Deploy, now, events: list[Event]) -> None:
    info, before = deploy.changed, deploy.previous or {}
    previous = info.get("previous_tag") or before.get("current_tag") or "none"
    alert = Alert(
        rule=rule,
        target=_capped(info["current_tag"], Alert, "target"),
        state=Alert.State.RESOLVED,
        started_at=now,
        fired_at=now,
        last_evaluated_at=now,
        resolved_at=now,
        message=f"Deployed {info['current_tag']} (previous {previous}, commit {info['commit_sha'] or 'unknown'}) "
        f"by {info['deployed_by']} at {info['deployed_at']}",
    )
    alert.save()
    events.append(Event(Notification.Kind.DEPLOY, alert))


def alerts_evaluate(*, now: datetime | None = None) -> PassResult:
    """One pass over every enabled rule, if this caller wins the evaluator lock (else ``ran`` is False).

    Reads only the open alerts, so its cost follows the fleet's size, not the history's."""
    now = now or timezone.now()
    result = PassResult()
    token = evaluator_claim(now=now)
    if token is None:
        return result
    try:
        _pass(now=now, result=result)
        result.ran = True
    finally:
        evaluator_release(token=token)
    return result


def _pass(*, now: datetime, result: PassResult) -> None:
    state = EvaluatorState.objects.get(pk=STATE_ROW)
    memory = dict(state.memory)
    rules = list(Rule.objects.filter(enabled=True))
    kinds = {rule.kind for rule in rules}
    observed: dict[str, observe.Observed | None] = {}
    for kind, observer in OBSERVERS.items():
        if kind in kinds:
            try:
                observed[kind] = observer(now=now, memory=memory)
            except Exception as exc:  # noqa: BLE001 (one source failing must not stop the other rules)
                # Logged with its traceback: a bug here shows in the logs, not only as a quiet rule.
                log.exception("alerts: the %s rules were not evaluated this pass", kind)
                observed[kind] = None
                result.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
    try:
        deploy = observe.deploy_observe(now=now, memory=memory)
    except Exception as exc:  # noqa: BLE001 (as for the observers: the other rules still run)
        log.exception("alerts: the deploy was not observed this pass")
        result.errors.append(f"deploy: {type(exc).__name__}: {exc}")
        # Unknown: nothing held back (an alert during a deploy beats a silenced outage), no deploy notice.
        deploy = observe.Deploy(in_progress=False, changed=None, previous=memory.get("deploy"))
    open_alerts = {(a.rule_id, a.target): a for a in Alert.objects.filter(is_open=True).select_related("rule")}
    # The mutes in force, and those that ended since the last pass (one read): an alert still firing
    # when its mute ends is sent once, so the channels hear its current state.
    since = min(state.last_pass_at or now, now)
    mutes, ended = [], []
    for mute in Mute.objects.filter(until__gt=since):
        (mutes if mute.until > now else ended).append(mute)
    channels = list(Channel.objects.filter(enabled=True))
    windows = maintenance_windows_open(now=now)

    def muted(rule: Rule, target: str) -> bool:
        return any(mute.covers(rule_id=rule.pk, target=target) for mute in mutes)

    def in_window(rule: Rule, target: str) -> bool:
        return any(window.covers(rule_id=rule.pk, target=target) for window in windows)

    changed: list[Alert] = []
    events: list[Event] = []
    with transaction.atomic():
        for alert in open_alerts.values():
            if not alert.rule.enabled:  # its rule was turned off: close it quietly, or the badge shows it forever
                alert.state, alert.is_open, alert.resolved_at = Alert.State.RESOLVED, False, now
                alert.last_evaluated_at = now
                alert.message = f"{alert.message} (closed: its rule was disabled)"
                changed.append(alert)
        for rule in rules:
            if rule.kind == Kind.DEPLOY:
                if deploy.changed:
                    _deploy_event(rule=rule, deploy=deploy, now=now, events=events)
                continue
            seen = observed.get(rule.kind)
            if seen is None:
                continue  # its source failed this pass: its alerts stay as they are
            targets = {t for t in seen.facts if rule.covers(t)} | {t for rid, t in open_alerts if rid == rule.pk}
            for target in sorted(targets - seen.unknown):
                _target_step(
                    rule=rule,
                    target=target,
                    facts=seen.facts.get(target),
                    alert=open_alerts.get((rule.pk, target)),
                    now=now,
                    hold=deploy.in_progress,
                    in_window=in_window(rule, target),
                    result=result,
                    changed=changed,
                    events=events,
                )
        events += _mutes_ended(ended=ended, muted=muted, alerts=open_alerts.values(), events=events)
        recovered = [e.alert.pk for e in events if e.event in (Notification.Kind.RESOLVED, messages.GONE)]
        result.notifications += notifications_group_queue(
            events=events,
            now=now,
            muted=lambda alert: muted(alert.rule, alert.target),
            channels=channels,
            heard=channels_heard(alert_ids=recovered),
        )
        # Open alerts that were already stored: written together, not one save() each.
        _alerts_write(changed)
        _alerts_closed(pks=[alert.pk for alert in changed if not alert.is_open], now=now)
        state.memory, state.last_pass_at = memory, now
        state.save(update_fields=["memory", "last_pass_at"])


UPDATED_FIELDS = [
    "state",
    "is_open",
    "flapping",
    "held",
    "track",
    "fired_at",
    "last_evaluated_at",
    "message",
    "resolved_at",
]


def _alerts_write(alerts: list[Alert]) -> None:
    """The open alerts a pass already had, written in one ``executemany`` (psycopg pipelines it).
    ``bulk_update`` was tried: its CASE expressions cost ~0.6 s of Python for 200 rows."""
    if not alerts:
        return
    fields = [Alert._meta.get_field(name) for name in UPDATED_FIELDS]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Alert._meta.db_table)} SET {sets} WHERE {quote('id')} = %s"
    rows = [
        [field.get_db_prep_save(getattr(a, field.attname), connection) for field in fields] + [a.pk] for a in alerts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _alerts_closed(*, pks: list[int], now: datetime) -> None:
    """What a resolve ends: the acknowledgement, and the mutes made "until resolved". Their own
    statements, only when something closed: the pass's bulk write leaves the acknowledgement out, so an
    operator acknowledging during a pass is never overwritten by the pass's older read."""
    if not pks:
        return
    Alert.objects.filter(pk__in=pks).update(acknowledged_at=None, acknowledged_by="", ack_comment="")
    Mute.objects.filter(alert_id__in=pks, until__gt=now).update(until=now)


def maintenance_windows_open(*, now: datetime) -> list[MaintenanceWindow]:
    """The windows open at ``now``: one statement (weekly ones are few and placed in Python)."""
    return [window for window in MaintenanceWindow.objects.not_over(now) if window.open_at(now)]


def _mutes_ended(*, ended: list[Mute], muted, alerts, events: list[Event]) -> list[Event]:
    """The alerts still firing that a mute ended since the last pass covered (and no mute covers now),
    unless this pass sends them something already."""
    if not ended:
        return []
    busy = {event.alert.pk for event in events}
    return [
        Event(Notification.Kind.FIRED, alert, messages.MUTE_ENDED)
        for alert in alerts
        if alert.state == Alert.State.ALERTING
        and alert.pk not in busy
        and any(mute.covers(rule_id=alert.rule_id, target=alert.target) for mute in ended)
        and not muted(alert.rule, alert.target)
    ]


def _target_step(
    *, rule, target, facts, alert, now, hold, in_window, result: PassResult, changed, events: list[Event]
) -> None:
    if facts is None:
        bad, message = False, f"{target} is no longer observed"  # e.g. a container removed by a deploy
    else:
        bad, message = condition(rule, target, facts)
    track = (
        evaluator.Track.from_json(alert.track, state=alert.state, flapping=alert.flapping, held=alert.held)
        if alert
        else evaluator.Track()
    )
    # A deploy holds the service's containers; a maintenance window holds whatever it covers.
    holdable = in_window or (hold and rule.kind == Kind.CONTAINER and bool(facts and facts.get("service")))
    acknowledged = alert is not None and alert.acknowledged
    new, due = evaluator.track_step(
        track, bad=bad, now=now, policy=_policy(rule), hold=holdable, acknowledged=acknowledged, gone=facts is None
    )
    if alert is None:
        if not new.open:
            return
        alert = Alert(rule=rule, target=target, started_at=now)
        result.opened += 1
    alert.state, alert.flapping, alert.held, alert.track = new.state, new.flapping, new.held, new.to_json()
    alert.fired_at, alert.last_evaluated_at = new.fired_at, now
    if bad:
        alert.message = message  # the latest bad reading; a recovery keeps what it recovered from
    if new.state in (Alert.State.RESOLVED, Alert.State.OK, Alert.State.GONE):
        alert.resolved_at = now
    alert.is_open = new.open
    if alert.pk is None:
        alert.save()
    else:
        changed.append(alert)
    result.held += int(new.held)
    for event in due:
        result.fired += event == evaluator.FIRED
        result.resolved += event in (evaluator.RESOLVED_EVENT, evaluator.GONE_EVENT)
        result.reminders += event == evaluator.REMINDER
        events.append(Event(event, alert))


PRUNE_BATCH = 1000
PRUNE_BATCHES = 20


def alerts_prune(
    *, now: datetime | None = None, batch: int = PRUNE_BATCH, batches: int = PRUNE_BATCHES
) -> dict[str, int]:
    """Delete the alerts closed more than OPSPORTAL_ALERTS_RETENTION_DAYS ago (their notifications go
    with them) and the channels' test messages as old, at most ``batch`` x ``batches`` rows of each a
    run, each batch its own short statement: a backlog is worked off over the hourly runs."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.OPSPORTAL_ALERTS_RETENTION_DAYS)
    closed = Alert.objects.filter(is_open=False).filter(
        Q(resolved_at__lt=cutoff) | Q(resolved_at__isnull=True, started_at__lt=cutoff)
    )
    tests = Notification.objects.filter(kind=Notification.Kind.TEST, created_at__lt=cutoff)
    pruned = {"alerts": 0, "tests": 0}
    for key, rows in (("alerts", closed), ("tests", tests)):
        for _ in range(batches):
            pks = list(rows.order_by("pk").values_list("pk", flat=True)[:batch])
            if not pks:
                break
            rows.model.objects.filter(pk__in=pks).delete()
            pruned[key] += len(pks)
    return pruned


def mute_create(
    *,
    actor: Actor,
    rule: Rule | None,
    target: str,
    until: datetime,
    reason: str,
    alert: Alert | None = None,
    now: datetime | None = None,
) -> Mute:
    """A mute and its audit record, together. With ``alert``, its resolve lifts the mute ("until resolved")."""
    now = now or timezone.now()
    with transaction.atomic(), changes_collected() as collected:
        mute = Mute.objects.create(
            rule=rule,
            target=target,
            until=until,
            reason=reason,
            alert=alert,
            created_by=actor.name[:150],
            created_at=now,
        )
        lifted = f"until resolved (at most {until.isoformat()})" if alert else f"until {until.isoformat()}"
        audit_record(
            actor=actor,
            action="alerts.mute",
            target_type="alert_rule" if rule else "alert_target",
            targets=[f"{rule.name if rule else '*'}:{target or '*'}"],
            detail=f"{lifted}: {reason}",
            changes=collected.changes,
            now=now,
        )
    return mute


class AlertActionRefused(Exception):
    """An action the alert's state does not allow (acknowledging a closed one...): the message says why."""


class AlertActionForbidden(Exception):
    """The actor may not do this (no permission, or a token without the scope): recorded, then raised."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def _alert_refusal(*, actor: Actor, action: str, alert: Alert, permission: str, scope: str) -> None:
    """Refuse (recorded, then raised) an actor who may not act on alerts this way; return when it may."""
    if refusal := actor.refusal(permission=permission, scope=scope):
        alerts_action_refused(
            actor=actor, action=action, target=_alert_named(alert), detail=f"alert #{alert.pk}: {refusal}"
        )
        raise AlertActionForbidden(refusal)


def _state_refused(*, actor: Actor, action: str, alert: Alert, why: str) -> AlertActionRefused:
    """An action the alert's state does not allow, recorded (outside the action's rolled-back transaction)."""
    alerts_action_refused(actor=actor, action=action, target=_alert_named(alert), detail=f"alert #{alert.pk}: {why}")
    return AlertActionRefused(why)


# The mute presets of an alert's page, in hours; "resolved" lasts until the alert resolves, at most
# SECONDS_MAX (a mute forgotten on an alert that never resolves still ends).
MUTE_PRESETS = {"1h": 1, "4h": 4, "24h": 24, "resolved": None}


def alert_mute_preset(
    *, actor: Actor, alert: Alert, preset: str, comment: str = "", now: datetime | None = None
) -> Mute:
    """Mute the alert's rule for its target, for a preset duration or until it resolves; audited.

    Needs ``alerts.add_mute`` (a token: the ``alerts:mute`` scope too, as every alert action); refusals
    are recorded."""
    now = now or timezone.now()
    _alert_refusal(actor=actor, action="alerts.mute", alert=alert, permission=MUTE_PERMISSION, scope=SCOPE_MUTE)
    if preset not in MUTE_PRESETS:
        why = f"unknown preset {preset!r}; known: {', '.join(MUTE_PRESETS)}"
        raise _state_refused(actor=actor, action="alerts.mute", alert=alert, why=why)
    hours = MUTE_PRESETS[preset]
    if hours is None and not alert.is_open:
        why = "this alert is closed already: nothing to mute until it resolves"
        raise _state_refused(actor=actor, action="alerts.mute", alert=alert, why=why)
    until = now + (timedelta(hours=hours) if hours else timedelta(seconds=SECONDS_MAX))
    shown = f"{hours} h" if hours else "until resolved"
    reason = f"muted {shown} from alert #{alert.pk}"
    comment = comment.strip()
    if comment:
        reason = f"{reason}: {comment}"
    return mute_create(
        actor=actor,
        rule=alert.rule,
        target=alert.target,
        until=until,
        reason=reason[: Mute._meta.get_field("reason").max_length],
        alert=None if hours else alert,
        now=now,
    )


def alert_unmute(*, actor: Actor, alert: Alert, now: datetime | None = None) -> int:
    """Lift the mutes in force on exactly this alert's rule and target (what its presets make), each
    audited as ``alerts.unmute``; returns how many. Broader mutes (every rule, every target) are the
    Mutes page's to lift. Needs ``alerts.delete_mute`` (a token: ``alerts:mute``)."""
    now = now or timezone.now()
    _alert_refusal(actor=actor, action="alerts.unmute", alert=alert, permission=UNMUTE_PERMISSION, scope=SCOPE_MUTE)
    mutes = list(Mute.objects.filter(rule_id=alert.rule_id, target=alert.target, until__gt=now).select_related("rule"))
    if not mutes:
        raise _state_refused(actor=actor, action="alerts.unmute", alert=alert, why="not muted: nothing to lift")
    for mute in mutes:
        mute_delete(actor=actor, mute=mute, now=now)
    return len(mutes)


def _alert_named(alert: Alert) -> str:
    return f"{alert.rule.name}:{alert.target}"


def alert_acknowledge(*, actor: Actor, alert: Alert, comment: str, now: datetime | None = None) -> Alert:
    """Acknowledge an open alert (who, when, why): its reminders stop until it resolves or the
    acknowledgement is taken back. A guarded update: an alert closed meanwhile is refused, not acknowledged."""
    now = now or timezone.now()
    action = "alerts.acknowledge"
    _alert_refusal(actor=actor, action=action, alert=alert, permission=ACKNOWLEDGE_PERMISSION, scope=SCOPE_MUTE)
    comment = comment.strip()[: Alert._meta.get_field("ack_comment").max_length]
    with transaction.atomic():
        after = {"acknowledged_at": now, "acknowledged_by": actor.name[:150], "ack_comment": comment}
        won = Alert.objects.filter(pk=alert.pk, is_open=True, acknowledged_at__isnull=True).update(**after)
        if won == 1:
            audit_record(
                actor=actor,
                action=action,
                target_type="alert",
                targets=[_alert_named(alert)],
                detail=f"alert #{alert.pk}: {comment}" if comment else f"alert #{alert.pk}",
                # A guarded update() sends no model signal: the changes are given here.
                changes={name: [None if name == "acknowledged_at" else "", value] for name, value in after.items()},
                now=now,
            )
    alert.refresh_from_db()
    if won != 1:
        why = "it is acknowledged already" if alert.is_open else "it is closed"
        raise _state_refused(actor=actor, action=action, alert=alert, why=f"not acknowledged: {why}")
    return alert


def alert_unacknowledge(*, actor: Actor, alert: Alert, now: datetime | None = None) -> Alert:
    """Take an acknowledgement back: reminders resume. Audited with who had acknowledged it and why."""
    now = now or timezone.now()
    action = "alerts.unacknowledge"
    _alert_refusal(actor=actor, action=action, alert=alert, permission=ACKNOWLEDGE_PERMISSION, scope=SCOPE_MUTE)
    with transaction.atomic():
        before = Alert.objects.select_for_update().get(pk=alert.pk)
        if before.acknowledged_at is not None:
            Alert.objects.filter(pk=alert.pk).update(acknowledged_at=None, acknowledged_by="", ack_comment="")
            audit_record(
                actor=actor,
                action=action,
                target_type="alert",
                targets=[_alert_named(alert)],
                detail=f"alert #{alert.pk}: was acknowledged by {before.acknowledged_by} "
                f"at {before.acknowledged_at.isoformat()}: {before.ack_comment}",
                changes={
                    "acknowledged_at": [before.acknowledged_at, None],
                    "acknowledged_by": [before.acknowledged_by, ""],
                    "ack_comment": [before.ack_comment, ""],
                },
                now=now,
            )
    if before.acknowledged_at is None:
        # Recorded outside the transaction above, which a raise inside would roll back.
        raise _state_refused(actor=actor, action=action, alert=alert, why="not acknowledged: nothing to take back")
    alert.refresh_from_db()
    return alert


def maintenance_window_save(
    *, actor: Actor, window: MaintenanceWindow, before: str = "", now: datetime | None = None
) -> MaintenanceWindow:
    """Create or change a window, audited with its schedule and scope before and after."""
    now = now or timezone.now()
    created = window.pk is None
    if created:
        window.created_by, window.created_at = actor.name[:150], now
    with transaction.atomic(), changes_collected() as collected:
        window.save()
        audit_record(
            actor=actor,
            action="alerts.maintenance_create" if created else "alerts.maintenance_change",
            target_type="maintenance_window",
            targets=[f"{window.pk}:{window.name}"],
            detail=window.described() if created else f"before: {before} | after: {window.described()}",
            changes=collected.changes,
            now=now,
        )
    return window


def maintenance_window_delete(*, actor: Actor, window: MaintenanceWindow, now: datetime | None = None) -> None:
    named = f"{window.pk}:{window.name}"
    with transaction.atomic(), changes_collected() as collected:
        window.delete()
        audit_record(
            actor=actor,
            action="alerts.maintenance_delete",
            target_type="maintenance_window",
            targets=[named],
            detail=f"before: {window.described()}",
            changes=collected.changes,
            now=now,
        )


def maintenance_window_refused(*, actor: Actor, action: str, window_id) -> None:
    """A window's making, change or removal refused for want of the permission: recorded."""
    audit_refusal_record(
        actor=actor,
        action=action,
        target_type="maintenance_window",
        targets=[str(window_id or "new")],
        detail="no permission",
    )


def alerts_action_refused(*, actor: Actor, action: str, target: str, detail: str) -> None:
    """An action refused (no permission, or the alert's state): recorded, within the refusals' rate cap."""
    audit_refusal_record(actor=actor, action=action, target_type="alert", targets=[target], detail=detail)


def mute_delete(*, actor: Actor, mute: Mute, now: datetime | None = None) -> int:
    """Remove a mute, audited. A mute removed while it holds an alert that still fires ends like one
    that runs out: the channels hear that alert's state once (returns the notifications queued)."""
    now = now or timezone.now()
    with transaction.atomic(), changes_collected() as collected:
        queued = 0
        if mute.until > now:
            others = list(Mute.objects.filter(until__gt=now).exclude(pk=mute.pk))
            firing = Alert.objects.filter(is_open=True, state=Alert.State.ALERTING).select_related("rule")
            events = _mutes_ended(
                ended=[mute],
                muted=lambda rule, target: any(m.covers(rule_id=rule.pk, target=target) for m in others),
                alerts=list(firing),
                events=[],
            )
            channels = list(Channel.objects.filter(enabled=True))
            queued = notifications_group_queue(events=events, now=now, muted=lambda _alert: False, channels=channels)
        named = f"{mute.rule.name if mute.rule_id else '*'}:{mute.target or '*'}"
        mute.delete()
        audit_record(
            actor=actor,
            action="alerts.unmute",
            target_type="alert_rule" if mute.rule_id else "alert_target",
            targets=[named],
            detail=mute.reason,
            changes=collected.changes,
        )
    return queued


def channel_open_alerts_send(*, channel: Channel, now: datetime | None = None) -> int:
    """A channel just added or switched back on hears the alerts firing now, in one message
    ("[ALERT] … (already open)"), if it takes ``fired`` and wants them (``send_open_alerts``). Alerts a
    mute covers are left out (their channels would not hear them either). Returns the rows queued."""
    now = now or timezone.now()
    if not (channel.enabled and channel.send_open_alerts and channel.receives(Notification.Kind.FIRED)):
        return 0
    mutes = list(Mute.objects.filter(until__gt=now))
    firing = Alert.objects.filter(is_open=True, state=Alert.State.ALERTING).select_related("rule")
    events = [
        Event(Notification.Kind.FIRED, alert, messages.ALREADY_OPEN)
        for alert in firing.order_by("rule__name", "target")
        if not any(mute.covers(rule_id=alert.rule_id, target=alert.target) for mute in mutes)
    ]
    with transaction.atomic():
        return notifications_group_queue(events=events, now=now, muted=lambda _alert: False, channels=[channel])


def channel_saved(*, channel: Channel, was_enabled: bool | None, now: datetime | None = None) -> int:
    """After a channel is saved: new (``was_enabled`` None) or switched on, it is sent the open alerts."""
    if channel.enabled and not was_enabled:
        return channel_open_alerts_send(channel=channel, now=now)
    return 0
