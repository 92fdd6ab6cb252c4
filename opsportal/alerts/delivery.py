"""Sending notifications: each (notification, channel) on its own, retried with backoff, failures kept.

Apprise channels go through Apprise; webhook channels POST the portal's JSON body (README, "Alerts").
Sends run in parallel threads that touch no database (rows are claimed before and written after),
so one slow or failing channel never holds up the others.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
import httpx
from django.conf import settings
from django.utils import timezone

from opsportal.alerts.models import Channel, Notification

SEND_POOL = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
CLAIM_SECONDS = 600
log = logging.getLogger(__name__)  # a claimed row is left alone this long by other workers while it is being sent


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s... after each failed attempt, at most an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS))


def _mask(text: str) -> str:
    return text[:1] + "…" + text[-1:] if len(text) > 4 else "****"


def url_masked(url: str) -> str:
    """A channel URL fit to show: password, query values and long path parts (tokens) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}{':****' if parts.password else ''}@{netloc}"
    path = "/".join(_mask(seg) if len(seg) > 8 else seg for seg in parts.path.split("/"))
    query = urlencode([(key, "****") for key, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def channel_url_shown(channel: Channel) -> str:
    if channel.kind == Channel.Kind.APPRISE:
        plugin = apprise.Apprise.instantiate(channel.url, suppress_exceptions=True)
        if plugin:
            return plugin.url(privacy=True)
    return url_masked(channel.url)


def channel_url_problem(*, kind: str, url: str) -> str | None:
    """Why ``url`` cannot be a channel of ``kind``, or None."""
    if kind == Channel.Kind.WEBHOOK:
        parts = urlsplit(url)
        return None if parts.scheme in ("http", "https") and parts.hostname else "a webhook needs an http(s):// URL"
    if not apprise.Apprise.instantiate(url, suppress_exceptions=True):
        return "not an Apprise URL Apprise can load (see its list of services)"
    return None


class _ThreadLog(logging.Handler):
    """Apprise reports failures in its log, not in an exception: keep this thread's warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record):
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


def _apprise_send(url: str, title: str, body: str) -> str | None:
    sender = apprise.Apprise()
    if not sender.add(url):
        return "not an Apprise URL Apprise can load"
    log = logging.getLogger("apprise")
    handler = _ThreadLog()
    log.addHandler(handler)
    try:
        ok = bool(sender.notify(title=title, body=body))
    finally:
        log.removeHandler(handler)
    return None if ok else ("; ".join(handler.lines) or "Apprise reported a failure")[-1000:]


def _webhook_send(url: str, payload: dict) -> str | None:
    try:
        response = httpx.post(url, json=payload, timeout=settings.OPSPORTAL_ALERTS_SEND_TIMEOUT)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:1000]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


def _send(item: tuple[str, str, str, str, dict]) -> str | None:
    kind, url, title, body, payload = item
    # Error texts can quote the URL: never keep its secrets.
    error = _webhook_send(url, payload) if kind == Channel.Kind.WEBHOOK else _apprise_send(url, title, body)
    return error.replace(url, url_masked(url)) if error else None


def notifications_deliver(*, now: datetime | None = None, limit: int = 200, ids: list[int] | None = None) -> dict:
    """Send the due notifications (or those of ``ids``), each claimed first with a guarded update so
    two workers never send one twice. Returns counts by outcome."""
    now = now or timezone.now()
    due = Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    claimed = []
    for row in due.select_related("channel").order_by("next_attempt_at", "pk")[:limit]:
        won = Notification.objects.filter(
            pk=row.pk, status=Notification.Status.PENDING, next_attempt_at=row.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
        if won == 1:
            claimed.append(row)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    if not claimed:
        return counts
    items = [(row.channel.kind, row.channel.url, row.title, row.body, row.payload) for row in claimed]
    with ThreadPoolExecutor(min(SEND_POOL, len(items))) as pool:
        errors = list(pool.map(_send, items))
    for row, error in zip(claimed, errors, strict=True):
        row.attempts += 1
        if error is None:
            row.status, row.sent_at, row.next_attempt_at, row.last_error = Notification.Status.SENT, now, None, ""
            counts["sent"] += 1
        elif row.attempts >= settings.OPSPORTAL_ALERTS_MAX_ATTEMPTS:
            log.warning("alerts: notification %s to %s failed for good: %s", row.pk, row.channel.name, error)
            row.status, row.next_attempt_at, row.last_error = Notification.Status.FAILED, None, error
            counts["failed"] += 1
        else:
            log.info(
                "alerts: notification %s to %s failed (attempt %s): %s", row.pk, row.channel.name, row.attempts, error
            )
            row.next_attempt_at, row.last_error = now + backoff(row.attempts), error
            counts["retrying"] += 1
        row.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"])
    return counts


def channel_test(*, channel: Channel, now: datetime | None = None) -> Notification:
    """Send a test message to ``channel`` now (once; a failure is shown, not retried)."""
    now = now or timezone.now()
    title = f"[TEST] opsportal alerts: {channel.name}"
    body = "A test message from the opsportal alerts. If you read this, the channel works."
    payload = {"version": 1, "kind": "test", "title": title, "message": body, "alert": None}
    row = Notification.objects.create(
        channel=channel,
        kind=Notification.Kind.TEST,
        title=title,
        body=body,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )
    error = _send((channel.kind, channel.url, title, body, payload))
    row.attempts, row.next_attempt_at = 1, None
    row.status = Notification.Status.SENT if error is None else Notification.Status.FAILED
    row.sent_at, row.last_error = (now if error is None else None), error or ""
    row.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"])
    return row
