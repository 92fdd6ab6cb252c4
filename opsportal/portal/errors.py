"""Error answers by URL prefix: under ``/api/`` every 400, 403, 404 and 500 is JSON in the endpoint's
own shape (it knows both apps' shapes, so it is the portal's); the portal's pages keep Django's.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.html import escape
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from plannings.web.auth import plannings_error

API_PREFIX = "/api/"
PLANNINGS_PREFIX = "/api/ops/"  # the plannings health endpoint's shape: {"error": "NOT_FOUND"}
COMPACT = {"separators": (",", ":"), "ensure_ascii": False}  # as DRF's JSONRenderer writes it


def api_error(request, status: int, code: str, detail: str) -> HttpResponse | None:
    """The error of an ``/api/`` path in its endpoint's own shape; None for the portal's pages.

    ``/api/ops/...`` (the plannings health endpoint) answers ``{"error": "NOT_FOUND"}``-style
    bodies, byte for byte as its refusals; the rest of ``/api/`` (wallet ops, the schema)
    answers the wallet ops shape ``{"code": ..., "detail": ...}``.
    """
    path = request.path_info
    if path.startswith(PLANNINGS_PREFIX):
        return plannings_error(status)
    if path.startswith(API_PREFIX):
        return JsonResponse({"code": code, "detail": detail}, status=status, json_dumps_params=COMPACT)
    return None


def portal_error(status: int, title: str, detail: str) -> HttpResponse:
    """A plain error page for the portal when the admin's chrome can't be drawn (before auth ran)."""
    body = f"<!doctype html>\n<title>{escape(title)}</title>\n<h1>{escape(title)}</h1>\n<p>{escape(detail)}</p>\n"
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def bad_request(request, exception=None):
    """``handler400``: Django's SuspiciousOperation family, e.g. DisallowedHost or a body too large."""
    if isinstance(exception, RequestDataTooBig):
        status, code, detail = 413, "request_too_large", "body: larger than the server accepts"
    elif isinstance(exception, TooManyFieldsSent):
        status, code, detail = 400, "invalid_param", "query: too many parameters"
    elif isinstance(exception, DisallowedHost):
        status, code, detail = 400, "bad_request", "Host: not a host this server answers for"
    else:
        status, code, detail = 400, "bad_request", "the request is malformed"
    answer = api_error(request, status, code, detail)
    if answer is not None:
        return answer
    if status == 413:
        return portal_error(413, "Request too large (413)", detail)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    answer = api_error(request, 403, "forbidden", "not allowed")
    return answer if answer is not None else defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    path = request.path_info if len(request.path_info) <= 200 else request.path_info[:200] + "…"
    answer = api_error(request, 404, "not_found", f"no endpoint at {path}")
    return answer if answer is not None else defaults.page_not_found(request, exception)


@csrf_exempt  # an unknown route is 404 whatever the method, never a CSRF failure page
def api_route_missing(request, rest: str = ""):
    """The last URL pattern under ``/api/``: its 404 is JSON even with DEBUG on (whose 404 page is HTML).

    It stands in for the slash redirect ``APPEND_SLASH`` would have made (``/api/docs`` → ``/api/docs/``).
    """
    if request.method in ("GET", "HEAD") and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_route_missing:
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
    return page_not_found(request)


def server_error(request):
    answer = api_error(request, 500, "server_error", "an unexpected error; the server logged it")
    return answer if answer is not None else defaults.server_error(request)
