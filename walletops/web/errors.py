"""Where a wallet ops domain failure (``walletops.exceptions``) gets its HTTP status: registered with the
API kit's one error shape (``opsportal.api.errors``), and read by the portal's pages (``error_of``)."""

from __future__ import annotations

from rest_framework import status

from opsportal.api.errors import OpsError, domain_errors_register
from walletops.exceptions import (
    ContainerNotRunning,
    DeployInfoInvalid,
    HealthCheckRefused,
    LogStreamsFull,
    Missing,
    RestartRefused,
    RestartThrottled,
    TooManyContainers,
    Unavailable,
    WalletOpsError,
)

# The HTTP status of each domain failure: the first class along the exception's MRO.
STATUS: dict[type[WalletOpsError], int] = {
    Missing: status.HTTP_404_NOT_FOUND,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    ContainerNotRunning: status.HTTP_409_CONFLICT,
    RestartRefused: status.HTTP_403_FORBIDDEN,
    HealthCheckRefused: status.HTTP_403_FORBIDDEN,
    RestartThrottled: status.HTTP_429_TOO_MANY_REQUESTS,
    LogStreamsFull: status.HTTP_429_TOO_MANY_REQUESTS,
    TooManyContainers: status.HTTP_400_BAD_REQUEST,
    DeployInfoInvalid: status.HTTP_500_INTERNAL_SERVER_ERROR,
    WalletOpsError: status.HTTP_500_INTERNAL_SERVER_ERROR,
}
domain_errors_register(STATUS)


def http_status(exc: WalletOpsError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def error_of(exc: OpsError | WalletOpsError) -> tuple[int, str, str]:
    """``(status, code, detail)`` of a web or a domain error: what a portal page shows, with the API's status."""
    if isinstance(exc, WalletOpsError):
        return http_status(exc), exc.code, exc.detail
    return exc.status_code, exc.code, exc.detail_text
