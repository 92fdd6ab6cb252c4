"""What a notification says: title, plain text, HTML and the webhook's JSON body, for one alert or a group.

A group is the alerts of one rule that fired (or resolved...) in the same pass: one message listing
each target with its reading (the condition's words carry the value and its threshold: ``depth 1532 >
1000``), since when, and a link to its page under ``OPSPORTAL_BASE_URL``. The webhook body stays
version 1: every field it had keeps its meaning (``alert`` is the group's first alert), new ones are
only added (``alerts``, ``count``, ``url``, ``reason``, ``resolution``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from opsportal.alerts.models import Alert, Rule
from opsportal.alerts.observe import ENGINE_PREFIX, FEEDS_HOST_PREFIX
from opsportal.lib.timefmt import time_exact, time_relative

# Evaluator events beside the notification kinds: "gone" is sent as kind "resolved", titled [CLOSED].
GONE = "gone"
ALREADY_OPEN, MUTE_ENDED = "already_open", "mute_ended"  # why a [ALERT] goes out again
TAGS = {
    "fired": "[ALERT]",
    "reminder": "[STILL ALERTING]",
    "resolved": "[RESOLVED]",
    GONE: "[CLOSED]",
    "deploy": "[DEPLOY]",
}
SUFFIXES = {ALREADY_OPEN: " (already open)", MUTE_ENDED: " (mute ended)", GONE: " (no longer observed)"}
LEADS = {"resolved": "Recovered. It was: ", GONE: "No longer observed (closed, not recovered). It was: "}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    body_html: str
    payload: dict


def _absolute(path: str) -> str:
    return settings.OPSPORTAL_BASE_URL + path


def alert_url(alert: Alert) -> str:
    return _absolute(reverse("admin:alerts_alert_change", args=[alert.pk]))


def target_url(alert: Alert) -> str:
    """The target's own page where it has one (a container's page, a host's plannings), else the alert's."""
    kind, target = alert.rule.kind, alert.target
    if kind == Rule.Kind.CONTAINER and not target.startswith(ENGINE_PREFIX):
        return _absolute(reverse("admin:ops-container", args=[target]))
    if kind == Rule.Kind.FEEDS and target.startswith(FEEDS_HOST_PREFIX):
        host = target.removeprefix(FEEDS_HOST_PREFIX)
        return _absolute(reverse("admin:plannings_planning_changelist") + f"?q={quote(host, safe='')}")
    return alert_url(alert)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None  # v1's form, kept as it was


def _alert_json(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "rule": alert.rule.name,
        "rule_kind": alert.rule.kind,
        "target": alert.target,
        "state": alert.state,
        "flapping": alert.flapping,
        "message": alert.message,
        "started_at": _iso(alert.started_at),
        "fired_at": _iso(alert.fired_at),
        "resolved_at": _iso(alert.resolved_at),
        "url": target_url(alert),
        "alert_url": alert_url(alert),
    }


def _since(alert: Alert, now: datetime) -> str:
    if alert.resolved_at is not None:
        return f"from {time_exact(alert.started_at)} to {time_exact(alert.resolved_at)}"
    return f"since {time_exact(alert.started_at)} ({time_relative(alert.started_at, now)})"


def message_build(*, event: str, alerts: list[Alert], now: datetime, reason: str = "") -> Message:
    """The message of ``event`` (fired, reminder, resolved, gone, deploy) for ``alerts`` (at least one)."""
    first = alerts[0]
    rules = {alert.rule.name for alert in alerts}
    label = first.rule.name if len(rules) == 1 else "Alerts"
    what = first.target if len(alerts) == 1 else f"{len(alerts)} targets"
    title = f"{TAGS[event]} {first.target}" if event == "deploy" else f"{TAGS[event]} {label}: {what}"
    if event == "fired" and len(alerts) == 1 and first.flapping:
        title += " (flapping)"
    title += SUFFIXES.get(reason or event, "")
    lead = LEADS.get(event, "")

    def reading(alert: Alert) -> str:
        # The condition's words name the target and its reading; across rules, the rule is named too.
        return f"{lead}{alert.message}" if len(rules) == 1 else f"{alert.rule.name}: {lead}{alert.message}"

    blocks, items = [], []
    for alert in alerts:
        url = target_url(alert)
        blocks.append((reading(alert), "" if event == "deploy" else _since(alert, now), url))
        items.append(_alert_json(alert))
    head = f"{len(alerts)} targets of {label}:" if len(alerts) > 1 else ""
    text = "\n\n".join("\n  ".join(part for part in block if part) for block in blocks)
    html_items = "".join(
        f"<li><p>{escape(line)}<br>{escape(since) + '<br>' if since else ''}"
        f'<a href="{escape(url)}">{escape(url)}</a></p></li>'
        for line, since, url in blocks
    )
    # v1's "message": the reading alone, as before groups ("Recovered. It was: …" for a recovery).
    legacy = "; ".join(reading(alert) for alert in alerts)
    payload = {
        "version": 1,
        "kind": "resolved" if event == GONE else event,
        "title": title,
        "message": legacy,
        "alert": items[0],
        "alerts": items,
        "count": len(alerts),
        "url": items[0]["url"],
        "reason": reason or None,
        "resolution": {"resolved": "recovered", GONE: "no_longer_observed"}.get(event),
    }
    return Message(
        title=title,
        body=f"{head}\n\n{text}" if head else text,
        body_html=f"<p>{escape(head or title)}</p><ul>{html_items}</ul>",
        payload=payload,
    )
