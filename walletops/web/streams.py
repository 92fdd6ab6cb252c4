"""Live log streams as HTTP responses: the API's and the portal page's, one way.

A stream holds a web thread for as long as it is open (gunicorn ``gthread``, README "Logs"):
its slot is taken before the response starts, so the caps answer 429, and given back when
the response is closed, whether the client went away, the stream ended or the server stops.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse

from walletops import logs
from walletops.web import params
from walletops.web.errors import InvalidParam

RESUME_FUTURE = timedelta(days=1)  # a Last-Event-ID this far ahead of our clock is no line's time


def _without_database(stream: logs.LogFollowStream):
    """The stream reads no database: its thread gives the connection back rather than hold it for an hour."""
    if not connection.in_atomic_block:  # (a test's transaction keeps its connection)
        connection.close()
    yield from stream


def event_stream_response(request, sources: list[logs.Source], *, query: dict, key: str) -> StreamingHttpResponse:
    """A ``text/event-stream`` of ``sources``' backlog then live lines, or ``LogStreamsFull`` (429).

    Everything that can be refused is refused before the slot is taken: a stream that fails once
    started can only say so in an event, and one never read (HEAD) would hold its slot until idle.
    """
    if request.method == "HEAD":
        # gunicorn drops a HEAD's body, so a client gone would never be noticed: answer the headers only.
        return _event_stream_headers(HttpResponse(b"", content_type="text/event-stream"))
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "HEAD"])
    after_ns = resume_after_ns(params.last_event_id(request))
    lease = logs.stream_lease(key=key)
    try:
        stream = logs.LogFollowStream(
            sources,
            tail=query["tail"],
            since=query.get("since"),
            grep=query.get("grep"),
            after_ns=after_ns,
            lease=lease,
        )
        body = _without_database(stream)
        response = StreamingHttpResponse(body, content_type="text/event-stream")
    except BaseException:
        lease.release()
        raise
    response._resource_closers.append(stream.close)  # the generator above is closed too; this stops the readers
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
