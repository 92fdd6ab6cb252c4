"""What wallet ops' domain code raises: plain exceptions, each with a stable ``code`` and a human ``detail``.

No Django, no DRF here. Two families say what kind of failure it is: ``Missing`` (the
thing asked about is absent: not an outage) and ``Unavailable`` (a system behind wallet
ops is down). The HTTP status and error body of each are chosen in one place, the web
layer (``walletops.web.errors``).
"""

from __future__ import annotations


class WalletOpsError(Exception):
    code = "error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Missing(WalletOpsError):
    """Absent data (no such container, no deploy yet), not an outage."""


class Unavailable(WalletOpsError):
    """A system behind wallet ops (a Docker engine, the broker, Prometheus) did not answer."""


class ContainerNotFound(Missing):
    code = "container_not_found"


class DeployInfoMissing(Missing):
    code = "deploy_info_missing"


class DockerUnavailable(Unavailable):
    code = "docker_unavailable"


class BrokerUnavailable(Unavailable):
    code = "broker_unavailable"


class PrometheusUnavailable(Unavailable):
    code = "prometheus_unavailable"


class TooManyContainers(WalletOpsError):
    """A merged view asked of more containers than are read at once: the request's to narrow, not absent."""

    code = "invalid_param"


class DeployInfoInvalid(WalletOpsError):
    """The post-deploy hook's file exists but cannot be read as deploy info."""

    code = "deploy_info_invalid"


class ContainerNotRunning(WalletOpsError):
    """The health check runs a command inside the container: a stopped, paused or restarting one can't run it."""

    code = "container_not_running"


class RestartRefused(WalletOpsError):
    """The actor may not restart this container (no right, or a protected container)."""

    code = "forbidden"


class HealthCheckRefused(WalletOpsError):
    """The actor may not run a container's health check (``walletops.run_health_check``)."""

    code = "forbidden"


class RestartThrottled(WalletOpsError):
    """Too many restart attempts (or refusals) a minute by one actor."""

    code = "throttled"


class LogStreamsFull(WalletOpsError):
    """Too many live log streams open: the actor's, or the web process's."""

    code = "too_many_streams"
