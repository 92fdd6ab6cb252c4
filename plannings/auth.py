"""The ``x-ops-token`` rule of ``GET /api/ops/plannings`` (spec §7)."""

from __future__ import annotations

import hmac

from django.conf import settings
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission

OPS_TOKEN_HEADER = "x-ops-token"  # noqa: S105 (a header name, not a secret)


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
