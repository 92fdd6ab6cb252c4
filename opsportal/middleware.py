"""Middleware run before everything else: ``/up`` for kamal-proxy, and the NUL-byte guard.

``GET /up``: the process is serving, answered before anything that could refuse the request.

kamal-proxy decides whether a new web container may take traffic by asking a path
with ``Host: <container id>:<port>``, over plain HTTP, with no credentials. The host
check (ALLOWED_HOSTS), the HTTPS redirect and every endpoint's auth would refuse that,
so this middleware sits first (after the CSP header, which refuses nothing) and answers ``/up``
itself, as Rails' ``/up`` does. It says only that this process serves requests, nothing about
the database or the jobs: those are ``/api/ops/plannings`` and ``/metrics``, which need their credentials.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError

PATH = "/up"
NUL = "\x00"


class LivenessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == PATH and request.method in ("GET", "HEAD"):
            return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RejectNulMiddleware:
    """A NUL byte anywhere a view could hand it to the database is 400, before anything reads it.

    PostgreSQL text cannot hold NUL, and psycopg raises on it: an admin filter
    (``?host=%00``), search (``?q=%00``), object id (``/planning/%00/change/``), a
    selected action row, a session cookie or a token would each be a 500. One guard
    covers them all: the path, the query string (percent-decoded), the cookies, the
    ``Authorization`` header and the portal's form bodies. Under ``/api/`` the answer
    is in the endpoint's own error shape; the portal gets a plain page naming the field.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = _nul_input(request)
        if problem is None:
            return self.get_response(request)
        from opsportal.portal.errors import api_error, portal_error

        answer = api_error(request, 400, "invalid_param", problem)
        return answer if answer is not None else portal_error(400, "Bad request (400)", problem)


def _nul_input(request) -> str | None:
    """What is wrong ("q: contains a NUL byte", ...), or None."""
    if NUL in request.path_info or NUL in request.path:
        return "path: contains a NUL byte"
    query = request.META.get("QUERY_STRING", "")
    if NUL in query or "%00" in query:
        for key, value in parse_qsl(query, keep_blank_values=True):
            if NUL in key or NUL in value:
                return f"{key if NUL not in key else 'query'}: contains a NUL byte"
    for key, value in request.COOKIES.items():
        if NUL in key or NUL in value:
            return f"cookie {key if NUL not in key else ''}: contains a NUL byte".replace(" :", ":")
    if NUL in request.META.get("HTTP_AUTHORIZATION", ""):
        return "Authorization: contains a NUL byte"
    # The portal's forms (an admin action's selected rows are ids). The API reads JSON bodies only.
    if request.method == "POST" and not request.path_info.startswith("/api/"):
        try:
            form = request.POST
        except MultiPartParserError:
            return "form: a malformed multipart body"
        for key, values in form.lists():
            if NUL in key or any(NUL in value for value in values):
                return f"{key if NUL not in key else 'form'}: contains a NUL byte"
    return None
