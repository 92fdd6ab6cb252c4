"""Sending notifications: each (notification, channel) on its own, retried with backoff, failures kept.

Apprise channels go through Apprise; webhook channels POST the portal's JSON body (README, "Alerts").
Sends run in parallel threads that touch no database (rows are claimed before and written after),
so one slow or failing channel never holds up the others. Every send (a delivery or a Send test) obeys
the egress policy (opsportal.alerts.egress): public addresses only unless allowed, no redirect, one
deadline for the whole send. An error is stored with the channel URL's secrets masked, never with the
receiver's answer in it (Viewers read it), and capped.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http import HTTPStatus
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import apprise
import httpx
from django.conf import settings
from django.utils import timezone

from opsportal.alerts.egress import send_guarded
from opsportal.alerts.models import Channel, Notification
from opsportal.alerts.scopes import CHANNEL_TEST_PERMISSION, SCOPE_TEST
from opsportal.audit.services import Outcome, audit_record, audit_refusal_record
from opsportal.lib.actors import Actor

SEND_POOL = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
CLAIM_SECONDS = 600  # a claimed row is left alone this long by other workers while it is being sent
ERROR_LONGEST = 500  # characters of a stored error
log = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s... after each failed attempt, at most an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS))


def _mask(text: str) -> str:
    """A secret's first and last characters when it is long enough to keep them hidden, else stars."""
    return text[:1] + "…" + text[-1:] if len(text) >= 12 else "****"


def _shown(text: str, *, longest: int) -> str:
    return text if len(text) <= longest else _mask(text)


def url_masked(url: str) -> str:
    """A channel URL fit to show, for every kind: only the scheme, a DNS-like host, a numeric port, a short
    user name, short path parts and query keys stay readable. Apprise URLs keep tokens where a host would be
    (slack://TokenA/..., tgram://bot:token/...) and in the path (ntfy topics), so those are masked too.
    Never raises: the admin list and every error message go through it."""
    try:
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            return _mask(url) if url else ""  # not a URL: masked whole, it may be a token
        userinfo, _, hostport = parts.netloc.rpartition("@")
        if hostport.startswith("["):  # an IPv6 literal
            host, _, rest = hostport.partition("]")
            host, port = host + "]", rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port = hostport.partition(":")
        if not _is_hostname(host):
            host = _shown(host, longest=4)
        netloc = host + (f":{port if port.isdigit() and int(port) <= 65535 else '****'}" if port else "")
        if userinfo:
            user, colon, _password = userinfo.partition(":")
            netloc = f"{_shown(user, longest=8)}{':****' if colon else ''}@{netloc}"
        path = "/".join(_shown(seg, longest=4) for seg in parts.path.split("/"))
        query = urlencode([(key, "****") for key, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
        return urlunsplit((parts.scheme, netloc, path, query, ""))
    except Exception:  # noqa: BLE001 (whatever the URL holds, the page showing it must not fail)
        return "(unreadable URL)"


def _is_hostname(host: str) -> bool:
    return "." in host or host.startswith("[") or host == "localhost"


def _host(netloc: str) -> str:
    """The host of a URL's netloc as written (``urlsplit().hostname`` lowercases it), IPv6 in brackets."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport.partition("]")[0] + "]"
    return hostport.partition(":")[0]


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that ``url_masked`` hides (a password, a long user name, a token where a host
    would be, path parts longer than 4 characters, every query value, the fragment), longest first, each
    also as it reads percent-decoded and encoded. Shorter than 3 characters, a part is no secret worth
    masking in a text, where it would mangle numbers and words."""
    try:
        parts = urlsplit(url)
        user, _, password = parts.netloc.rpartition("@")[0].partition(":")
        host = _host(parts.netloc)
        found = [password, user if len(user) > 8 else "", "" if _is_hostname(host) else host, parts.fragment]
        found += [segment for segment in parts.path.split("/") if len(segment) > 4]
        found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        found = []
    variants = {form for secret in found for form in (secret, unquote(secret), quote(secret, safe=""))}
    return sorted((secret for secret in variants if len(secret) >= 3), key=len, reverse=True)


def error_masked(error: str, url: str) -> str:
    """An error text fit to store and show: the channel URL masked wherever it is quoted, and each of
    its secret parts wherever it appears alone (a receiver echoing its path, a library quoting a
    query), capped at ``ERROR_LONGEST`` characters."""
    if url:
        error = error.replace(url, url_masked(url))
        secrets = url_secrets(url)
        try:
            host = _host(urlsplit(url).netloc)
        except ValueError:
            host = ""
        # A path part may also be part of the host name (hooks.example.com/hooks/T0KEN): the host,
        # shown in clear by url_masked too, stays readable.
        pieces = error.split(host) if _is_hostname(host) else [error]
        for secret in secrets:
            pieces = [piece.replace(secret, "****") for piece in pieces]
        error = host.join(pieces)
    return error if len(error) <= ERROR_LONGEST else error[: ERROR_LONGEST - 1] + "…"


def channel_url_shown(channel: Channel) -> str:
    """Always our own masking: Apprise's privacy URL keeps ntfy topics and other path tokens in clear."""
    return url_masked(channel.url)


def channel_url_problem(*, kind: str, url: str) -> str | None:
    """Why ``url`` cannot be a channel of ``kind``, or None."""
    if kind == Channel.Kind.WEBHOOK:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
            httpx.URL(url)
        except (ValueError, httpx.InvalidURL) as exc:
            return f"not a usable URL: {str(exc).replace(url, url_masked(url))}"[:300]
        return None if parts.scheme in ("http", "https") and parts.hostname else "a webhook needs an http(s):// URL"
    try:
        loaded = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # noqa: BLE001 (a plugin may raise on a URL it cannot parse)
        loaded = None
    if not loaded:
        return "not an Apprise URL Apprise can load (see its list of services)"
    scheme = url.partition("://")[0].lower()
    if scheme not in {allowed.lower() for allowed in settings.OPSPORTAL_ALERTS_APPRISE_SCHEMES}:
        return f"the Apprise scheme {scheme}:// is not allowed here (OPSPORTAL_ALERTS_APPRISE_SCHEMES)"
    return None


# Apprise schemes sent the HTML body: its e-mail plugin makes a multipart/alternative message of it (the
# text/plain part is Apprise's rendering of the HTML). Other services get the plain text as before.
HTML_SCHEMES = ("mailto", "mailtos")


def _apprise_send(url: str, title: str, body: str, html: str = "") -> str | None:
    """Apprise reports failures in its log, not in an exception. Apprise 2.x sends from its own thread pool,
    so a handler keyed on this thread saw nothing: the result carries this call's log entries instead."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return "not an Apprise URL Apprise can load"
    if html and url.partition("://")[0].lower() in HTML_SCHEMES:
        body, body_format = html, apprise.NotifyFormat.HTML
    else:
        body_format = None  # as the service takes it (unchanged from before HTML bodies)
    result = sender.notify(title=title, body=body, body_format=body_format, log_level=logging.WARNING)
    if result:
        return None
    lines = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return "; ".join(lines) or f"Apprise reported {getattr(result.status, 'name', 'a failure')}"


def _webhook_send(url: str, payload: dict) -> str | None:
    """The answer's status only: its body is never read (a receiver could trickle or flood it) nor
    quoted, nor its reason phrase (the receiver's own words), and a redirect is not followed."""
    try:
        with httpx.stream(
            "POST", url, json=payload, timeout=settings.OPSPORTAL_ALERTS_SEND_TIMEOUT, follow_redirects=False
        ) as response:
            status = response.status_code
    except (httpx.TimeoutException, httpx.ConnectError) as exc:
        return f"{type(exc).__name__}: {exc}"  # the system's words (refused, timed out, name unknown)
    except httpx.HTTPError as exc:
        # Protocol errors quote the bytes the other end sent (a Redis or SMTP banner): named, not quoted.
        return f"{type(exc).__name__}: no complete HTTP answer"
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirect not followed"
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:  # a code outside the standard's list
        return f"HTTP {status}"


def _send(item: tuple[str, str, str, str, dict, str]) -> str | None:
    """Never raises: any failure of one send (httpx.InvalidURL is no HTTPError, a plugin's bug...) is that
    item's error, so the pool's map never aborts a delivery whose rows are already claimed and sent.
    What the egress policy did (refused an address, ended the send at its deadline, held back a
    redirect) explains a failure better than the library's words for it, so it comes first."""
    kind, url, title, body, payload, html = item
    with send_guarded(
        allowed=settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS, deadline_seconds=settings.OPSPORTAL_ALERTS_SEND_TIMEOUT
    ) as guard:
        try:
            error = (
                _webhook_send(url, payload) if kind == Channel.Kind.WEBHOOK else _apprise_send(url, title, body, html)
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("alerts: a %s send raised", kind, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
    if error is not None or guard.expired:
        # An answer cut off at the deadline can read as complete to a lenient parser (http.client ends
        # headers at the end of the stream): unconfirmed, so a failure, retried.
        error = guard.outcome() or error
    # Error texts can quote the URL or its parts: never keep its secrets.
    return error_masked(error, url) if error else None


def _outcome_write(row: Notification, error: str | None, *, now: datetime, final: bool, counts: dict) -> None:
    row.attempts += 1
    error = error_masked(error, row.channel.url) if error is not None else None
    if error is None:
        row.status, row.sent_at, row.next_attempt_at, row.last_error = Notification.Status.SENT, now, None, ""
        counts["sent"] += 1
    elif final or row.attempts >= settings.OPSPORTAL_ALERTS_MAX_ATTEMPTS:
        log.warning("alerts: notification %s to %s failed for good: %s", row.pk, row.channel.name, error)
        row.status, row.next_attempt_at, row.last_error = Notification.Status.FAILED, None, error
        counts["failed"] += 1
    else:
        log.info("alerts: notification %s to %s failed (attempt %s): %s", row.pk, row.channel.name, row.attempts, error)
        row.next_attempt_at, row.last_error = now + backoff(row.attempts), error
        counts["retrying"] += 1
    row.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"])


def notifications_deliver(*, now: datetime | None = None, limit: int = 200, ids: list[int] | None = None) -> dict:
    """Send the due notifications (or those of ``ids``), each claimed first with a guarded update so
    two workers never send one twice. Returns counts by outcome.

    Rows of a disabled channel, or of a channel whose URL cannot be used, fail at once (not retried
    every few minutes); every row's outcome is written on its own, so nothing sent is sent again."""
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
    refused: dict[int, str | None] = {}
    for channel in {row.channel_id: row.channel for row in claimed}.values():
        problem = None if channel.enabled else "channel disabled"
        if problem is None and (url_problem := channel_url_problem(kind=channel.kind, url=channel.url)):
            problem = f"unusable channel URL: {url_problem}"
        refused[channel.pk] = problem
    sendable = [row for row in claimed if refused[row.channel_id] is None]
    errors: list[str | None] = []
    if sendable:
        items = [
            (row.channel.kind, row.channel.url, row.title, row.body, row.payload, row.body_html) for row in sendable
        ]
        with ThreadPoolExecutor(min(SEND_POOL, len(items))) as pool:
            errors = list(pool.map(_send, items))
    outcomes = [(row, refused[row.channel_id], True) for row in claimed if refused[row.channel_id] is not None]
    outcomes += [(row, error, False) for row, error in zip(sendable, errors, strict=True)]
    for row, error, final in outcomes:
        try:
            _outcome_write(row, error, now=now, final=final, counts=counts)
        except Exception:  # noqa: BLE001 (one row that cannot be written must not lose the others' outcomes)
            log.exception("alerts: the outcome of notification %s was not written", row.pk)
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
        next_attempt_at=None,  # never due: a worker's delivery pass must not send it a second time
    )
    problem = channel_url_problem(kind=channel.kind, url=channel.url)
    error = (
        f"unusable channel URL: {problem}" if problem else _send((channel.kind, channel.url, title, body, payload, ""))
    )
    row.attempts, row.next_attempt_at = 1, None
    row.status = Notification.Status.SENT if error is None else Notification.Status.FAILED
    row.sent_at, row.last_error = (now if error is None else None), error_masked(error or "", channel.url)
    row.save(update_fields=["attempts", "status", "sent_at", "next_attempt_at", "last_error"])
    return row


AUDIT_CHANNEL_TEST = "alerts.channel_test"


class ChannelTestRefused(Exception):
    """The actor may not send a channel's test (who may change channels may): recorded, then raised."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def channel_test_send(*, actor: Actor, channel: Channel, now: datetime | None = None) -> Notification:
    """A channel's "Send test", decided and recorded here for the page and the API alike.

    Needs ``alerts.change_channel`` (a token: the ``alerts:test`` scope too). One audit row per
    test, ``failed`` when the channel did not take it (its error masked as on the channel's page).
    """
    target = [f"{channel.pk}:{channel.name}"]
    if refusal := actor.refusal(permission=CHANNEL_TEST_PERMISSION, scope=SCOPE_TEST):
        audit_refusal_record(
            actor=actor, action=AUDIT_CHANNEL_TEST, target_type="alert_channel", targets=target, detail=refusal
        )
        raise ChannelTestRefused(refusal)
    row = channel_test(channel=channel, now=now)
    sent = row.status == Notification.Status.SENT
    audit_record(
        actor=actor,
        action=AUDIT_CHANNEL_TEST,
        outcome=Outcome.OK if sent else Outcome.FAILED,
        target_type="alert_channel",
        targets=target,
        detail="test message sent" if sent else row.last_error,
        now=row.created_at,
    )
    return row
