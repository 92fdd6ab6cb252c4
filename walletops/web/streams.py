"""Live log streams as HTTP responses: the API's and the portal page's, one way.

A stream holds a web thread for as long as it is open (gunicorn ``gthread``, README "Logs"):
its slot is taken before the response starts, so the caps answer 429, and given back when
the response is closed, whether the client went away, the stream ended or the server stops.
"""

from __future__ import annotations

from django.db import connection
from django.http import StreamingHttpResponse

from walletops import logs
from walletops.web import params


def _without_database(stream: logs.LogFollowStream):
    """The stream reads no database: its thread gives the connection back rather than hold it for an hour."""
    if not connection.in_atomic_block:  # (a test's transaction keeps its connection)
        connection.close()
    yield from stream


def event_stream_response(request, sources: list[logs.Source], *, query: dict, key: str) -> StreamingHttpResponse:
    """A ``text/event-stream`` of ``sources``' backlog then live lines, or ``LogStreamsFull`` (429)."""
    lease = logs.stream_lease(key=key)
    try:
        stream = logs.LogFollowStream(
            sources,
            tail=query["tail"],
            since=query.get("since"),
            grep=query.get("grep"),
            after_ns=logs.last_event_ns(params.last_event_id(request)),
            lease=lease,
        )
        body = _without_database(stream)
        response = StreamingHttpResponse(body, content_type="text/event-stream")
    except BaseException:
        lease.release()
        raise
    response._resource_closers.append(stream.close)  # the generator above is closed too; this stops the readers
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and the like: do not buffer (kamal-proxy knows the type)
    return response
