"""The ``x-ops-token`` rule of ``GET /api/ops/plannings`` (spec §7)."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission

OPS_TOKEN_HEADER = "x-ops-token"  # noqa: S105 (a header name, not a secret)

# The endpoint's error shape is upstream's ``{"error": "NOT_FOUND"}``; other statuses follow it.
ERROR_CODES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL_SERVER_ERROR",
}


def plannings_error(status: int) -> HttpResponse:
    """``{"error": "<CODE>"}`` with exactly the bytes and Content-Type of the endpoint's refusals."""
    body = json.dumps({"error": ERROR_CODES.get(status, "ERROR")}, separators=(",", ":"))
    return HttpResponse(body, status=status, content_type="application/json")


def plannings_exception_handler(exc, context):
    """Every error of the health endpoint as ``{"error": CODE}``: a refusal is always 404 NOT_FOUND."""
    del context
    if isinstance(exc, OpsNotFound):
        return plannings_error(404)
    if isinstance(exc, exceptions.MethodNotAllowed):  # only once the token was accepted
        response = plannings_error(405)
        response["Allow"] = "GET, HEAD"
        return response
    if isinstance(exc, exceptions.APIException):
        return plannings_error(exc.status_code)
    return None  # a bug: handler500 answers {"error": "INTERNAL_SERVER_ERROR"}


class OpsNotFound(APIException):
    """Refusals look like a missing route: same status, body and headers for every reason."""

    status_code = 404
    default_detail = {"error": "NOT_FOUND"}
    default_code = "NOT_FOUND"


def ops_token_allows(provided: str | None) -> bool:
    expected = settings.OPS_TOKEN
    if not expected:
        # Production with no token configured refuses everyone; elsewhere the endpoint is open.
        return not settings.IS_PRODUCTION
    if provided is None:
        return False
    # Constant-time, so response timing does not leak how much of a guess was right.
    return hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8"))


class HasOpsToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not ops_token_allows(request.headers.get(OPS_TOKEN_HEADER)):
            raise OpsNotFound()
        return True
