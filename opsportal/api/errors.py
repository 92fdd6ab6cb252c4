"""The API's one error shape, ``{"code": ..., "detail": ...}``, for every ``/api/v1/`` path.

``api_exception_handler`` is installed once, in ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``; no view picks
its own (``GET /api/ops/plannings`` keeps PlanningSup's shape: the one documented exception, in
``plannings.web``). The kit's own errors are here; an app's domain failures get their status from
the app's web layer through ``domain_errors_register`` (the kit imports no app): each such exception
carries ``code`` and ``detail``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


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


# The HTTP status of each registered domain failure: the first class along the exception's MRO.
_DOMAIN_STATUS: dict[type[Exception], int] = {}


def domain_errors_register(statuses: dict[type[Exception], int]) -> None:
    """An app's domain failures and their HTTP statuses (each exception has ``code`` and ``detail``)."""
    _DOMAIN_STATUS.update(statuses)


def domain_status(exc: BaseException) -> int | None:
    """The registered status of a domain failure, or None when ``exc`` is no registered one."""
    for kind in type(exc).__mro__:
        if kind in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[kind]
    return None


def as_api_error(exc: Exception, status_code: int) -> OpsError:
    """The domain failure as the error DRF answers with: its status, its code, its detail."""
    error = OpsError(exc.detail)
    error.status_code, error.code = status_code, exc.code
    return error


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


def api_exception_handler(exc, context):
    """Every error of an API endpoint in one shape; the headers DRF sets are kept."""
    if (status_code := domain_status(exc)) is not None:
        exc = as_api_error(exc, status_code)
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
