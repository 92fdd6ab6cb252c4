"""The wallet ops error shape, ``{"code": ..., "detail": ...}``: the web layer's own errors, and the one
place where a domain failure (``walletops.exceptions``) gets its HTTP status and body."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from walletops.exceptions import (
    ContainerNotRunning,
    DeployInfoInvalid,
    LogStreamsFull,
    Missing,
    RestartRefused,
    RestartThrottled,
    TooManyContainers,
    Unavailable,
    WalletOpsError,
)


class OpsError(exceptions.APIException):
    code = "error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail_text = detail


class InvalidParam(OpsError):
    status_code, code = status.HTTP_400_BAD_REQUEST, "invalid_param"

    def __init__(self, param: str, problem: str):
        super().__init__(f"{param}: {problem}")


class Unauthorized(OpsError):
    status_code, code = status.HTTP_401_UNAUTHORIZED, "unauthorized"


class Forbidden(OpsError):
    status_code, code = status.HTTP_403_FORBIDDEN, "forbidden"


class RequestTooLarge(OpsError):
    """A body longer than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code, code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large"


# The HTTP status of each domain failure (``walletops.exceptions``): the first class along the exception's MRO.
STATUS: dict[type[WalletOpsError], int] = {
    Missing: status.HTTP_404_NOT_FOUND,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    ContainerNotRunning: status.HTTP_409_CONFLICT,
    RestartRefused: status.HTTP_403_FORBIDDEN,
    RestartThrottled: status.HTTP_429_TOO_MANY_REQUESTS,
    LogStreamsFull: status.HTTP_429_TOO_MANY_REQUESTS,
    TooManyContainers: status.HTTP_400_BAD_REQUEST,
    DeployInfoInvalid: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def http_status(exc: WalletOpsError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def as_api_error(exc: WalletOpsError) -> OpsError:
    """The domain failure as the web error DRF answers with: its status, its code, its detail."""
    error = OpsError(exc.detail)
    error.status_code, error.code = http_status(exc), exc.code
    return error


def error_of(exc: OpsError | WalletOpsError) -> tuple[int, str, str]:
    """``(status, code, detail)`` of a web or a domain error: what a portal page shows, with the API's status."""
    if isinstance(exc, WalletOpsError):
        return http_status(exc), exc.code, exc.detail
    return exc.status_code, exc.code, exc.detail_text


_DRF_CODES = {
    exceptions.NotAuthenticated: ("unauthorized", status.HTTP_401_UNAUTHORIZED),
    exceptions.AuthenticationFailed: ("unauthorized", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("forbidden", status.HTTP_403_FORBIDDEN),
    exceptions.ValidationError: ("invalid_param", status.HTTP_400_BAD_REQUEST),
    exceptions.ParseError: ("invalid_param", status.HTTP_400_BAD_REQUEST),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),  # e.g. /metrics?format=xml
    exceptions.MethodNotAllowed: ("method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    exceptions.NotAcceptable: ("not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    exceptions.Throttled: ("throttled", status.HTTP_429_TOO_MANY_REQUESTS),
}


def ops_exception_handler(exc, context):
    """Every error of a wallet ops endpoint in one shape; the headers DRF sets are kept."""
    if isinstance(exc, WalletOpsError):
        exc = as_api_error(exc)
    if isinstance(exc, OpsError):
        response = exception_handler(exc, context) or Response(status=exc.status_code)
        response.data = {"code": exc.code, "detail": exc.detail_text}
        return response
    if isinstance(exc, Http404):  # as DRF's own handler does, so the mapping below sees it
        exc = exceptions.NotFound(str(exc) or "no such resource")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "not allowed")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling takes over (no traceback reaches the client)
    for kind, (code, _) in _DRF_CODES.items():
        if isinstance(exc, kind):
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            response.data = {"code": code, "detail": detail}
            return response
    response.data = {"code": "error", "detail": str(getattr(exc, "detail", exc))}
    return response
