"""Live log streams as HTTP responses: the API's and the portal page's, one way.

A stream holds a web thread for as long as it is open (gunicorn ``gthread``, README "Logs"):
its slot is taken before the response starts, so the caps answer 429, and given back when
the response is closed, whether the client went away, the stream ended or the server stops.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.utils import timezone

from opsportal.api.errors import InvalidParam
from opsportal.api.models import ApiToken
from opsportal.api.tokens import token_owner_refusal, token_use_refusal
from walletops import logs, stream_leases
from walletops.web import params

ENGINES_DOWN_HEADER = "X-Docker-Unavailable"  # as every wallet ops answer that some engines missed
PAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RESUME_FUTURE = timedelta(days=1)  # a Last-Event-ID this far ahead of our clock is no line's time


def _without_database(stream: logs.LogFollowStream):
    """The stream reads no database: its thread gives the connection back rather than hold it for an hour."""
    if not connection.in_atomic_block:  # (a test's transaction keeps its connection)
        connection.close()
    yield from stream


def _closing_connection(check):
    """The check's own database connection, given back at once: the stream's thread holds none."""

    def run() -> str:
        try:
            return check()
        finally:
            if not connection.in_atomic_block:
                connection.close()

    return run


def token_access_refusal(token: ApiToken, scope: str):
    """Why ``token`` may no longer read this stream (empty while it may): as each API request asks."""

    def check() -> str:
        current = ApiToken.objects.select_related("owner").filter(pk=token.pk).first()
        if current is None or not current.is_active(timezone.now()):
            return "the token was revoked or expired"
        return token_owner_refusal(current) or token_use_refusal(current, [scope])

    return _closing_connection(check)


def user_access_refusal(user):
    """Why the portal's ``user`` may no longer read this stream: deactivated, or no longer staff."""

    def check() -> str:
        current = get_user_model().objects.filter(pk=user.pk).first()
        if current is None or not current.is_active:
            return "your account was deactivated"
        if not current.is_staff:
            return "your account is no longer staff"
        return ""

    return _closing_connection(check)


def client_gone_check(request) -> Callable[[], bool] | None:
    """Whether the client hung up, asked of its socket without blocking; None when the server hands
    none to the app (gunicorn does, as ``gunicorn.socket``; Django's development server does not).

    A peek that reads end-of-file means the client closed its side; a request's body has been read by
    then, so anything else (bytes of a next request, or nothing yet) means it still waits.
    """
    sock = request.META.get("gunicorn.socket")
    if sock is None:
        return None

    def gone() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # reset, or closed under us: nobody to answer
            return True

    return gone


def stream_owner_key(request) -> str:
    """Whose stream cap a request counts against: a token's owner (with their portal sessions), a token
    without one on its own, else the portal's user."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return stream_leases.stream_key(user_pk=token.owner_id, token_pk=token.pk)
    return stream_leases.stream_key(user_pk=request.user.pk)


def page_id(request) -> str:
    """The portal page (browser tab) a stream is for, ``?page_id=``: its new stream takes its previous one's slot."""
    value = request.GET.get("page_id", "")
    if value and not PAGE_ID.fullmatch(value):
        raise InvalidParam("page_id", "up to 64 letters, digits, - and _")
    return value


def event_stream_response(
    request, sources: list[logs.Source], *, query: dict, access_refusal=None, page: str = ""
) -> StreamingHttpResponse:
    """A ``text/event-stream`` of ``sources``' backlog then live lines, or ``LogStreamsFull`` (429).

    Everything that can be refused is refused before the slot is taken: a stream that fails once
    started can only say so in an event, and one never read (HEAD) would hold its slot until idle.
    The slot is counted against ``stream_owner_key(request)``; with ``page``, it replaces that page's
    previous stream (a reload's closed stream never refuses the new one).
    """
    if request.method == "HEAD":
        # gunicorn drops a HEAD's body, so a client gone would never be noticed: answer the headers only.
        return _event_stream_headers(HttpResponse(b"", content_type="text/event-stream"))
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "HEAD"])
    after_ns = resume_after_ns(params.last_event_id(request))
    lease = logs.stream_lease(key=stream_owner_key(request), page=page)
    try:
        stream = logs.LogFollowStream(
            sources,
            tail=query["tail"],
            since=query.get("since"),
            grep=query.get("grep"),
            after_ns=after_ns,
            lease=lease,
            access_refusal=access_refusal,
            client_gone=client_gone_check(request),
        )
        body = _without_database(stream)
        response = StreamingHttpResponse(body, content_type="text/event-stream")
    except BaseException:
        lease.release()
        raise
    response._resource_closers.append(stream.close)  # the generator above is closed too; this stops the readers
    if engines_down := getattr(sources, "engines_down", None):
        response[ENGINES_DOWN_HEADER] = ", ".join(engines_down)
    return _event_stream_headers(response)


def _event_stream_headers(response):
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and the like: do not buffer (kamal-proxy knows the type)
    return response


def resume_after_ns(value: str | None) -> int | None:
    """A ``Last-Event-ID`` (or ``?last_event_id=``) as nanoseconds, or ``InvalidParam`` (400): one that
    is not a line's time, or outside 1970 .. tomorrow, would otherwise fail the stream once started."""
    if not value:
        return None
    ns = logs.last_event_ns(value)
    latest = datetime.now(tz=UTC) + RESUME_FUTURE
    if ns is None or not 0 < ns <= int(latest.timestamp()) * logs.NS:
        raise InvalidParam(
            "Last-Event-ID",
            "a line's id, an RFC 3339 time between 1970 and now (as 2026-03-10T11:59:58.123456789Z)",
        )
    return ns
