"""The wallet ops error shape, ``{"code": ..., "detail": ...}``, and its exceptions."""

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


class RestartThrottled(OpsError):
    status_code, code = status.HTTP_429_TOO_MANY_REQUESTS, "throttled"


class ContainerNotFound(OpsError):
    status_code, code = status.HTTP_404_NOT_FOUND, "container_not_found"


class ContainerNotRunning(OpsError):
    """The health check runs a command inside the container: a stopped, paused or restarting one can't run it."""

    status_code, code = status.HTTP_409_CONFLICT, "container_not_running"


class RequestTooLarge(OpsError):
    """A body longer than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code, code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large"


class DockerUnavailable(OpsError):
    status_code, code = status.HTTP_503_SERVICE_UNAVAILABLE, "docker_unavailable"


class BrokerUnavailable(OpsError):
    status_code, code = status.HTTP_503_SERVICE_UNAVAILABLE, "broker_unavailable"


class PrometheusUnavailable(OpsError):
    status_code, code = status.HTTP_503_SERVICE_UNAVAILABLE, "prometheus_unavailable"


class DeployInfoMissing(OpsError):
    status_code, code = status.HTTP_404_NOT_FOUND, "deploy_info_missing"


class DeployInfoInvalid(OpsError):
    status_code, code = status.HTTP_500_INTERNAL_SERVER_ERROR, "deploy_info_invalid"


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
