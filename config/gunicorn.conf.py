"""gunicorn's settings beyond the Procfile's command line (``--config config/gunicorn.conf.py``).

gunicorn answers a request it cannot parse itself, before Django sees it, and wrote those answers
as HTML: 400 for raw non-ASCII in the request line, 414 for a request line over
``limit_request_line`` (4,094 bytes), 431 for headers over ``limit_request_field_size`` (8,190
bytes), and the like. Every ``/api/`` client reads the JSON error shape instead, so they are now
``{"code": ..., "detail": ...}`` (the API shape, ``opsportal/api/errors.py``), with the
same status. For every path: when gunicorn refuses a request it has often not read its path yet.

gunicorn writes them all through ``gunicorn.util.write_error`` (``Worker.handle_error``), after
classifying and logging the failure; this file, run in the master before it forks the workers,
puts the JSON writer in its place. The details are fixed phrases: the request line gunicorn
quotes in its own message may carry a token.
"""

import json

from gunicorn import util

_ANSWERS = {
    400: ("bad_request", "the request is malformed"),
    403: ("forbidden", "not allowed"),
    414: ("uri_too_long", "the request line is longer than the server accepts"),
    417: ("expectation_failed", "the Expect header is not supported"),
    431: ("headers_too_large", "the request headers are larger than the server accepts"),
    500: ("server_error", "an unexpected error; the server logged it"),
    501: ("not_implemented", "the transfer coding is not supported"),
}
# What the portal's own responses carry: nothing in a JSON error may load or frame anything.
_HEADERS = (
    "Connection: close",
    "Content-Type: application/json",
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options: nosniff",
)


def _json_error(sock, status_int, reason, mesg):
    """``gunicorn.util.write_error``'s signature and job, in the portal's JSON error shape."""
    del mesg  # gunicorn's text: it may quote the request line
    code, detail = _ANSWERS.get(status_int, ("error", reason.lower()))
    body = json.dumps({"code": code, "detail": detail}, separators=(",", ":")).encode()
    head = "\r\n".join([f"HTTP/1.1 {status_int} {reason}", *_HEADERS, f"Content-Length: {len(body)}", "", ""])
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _json_error
