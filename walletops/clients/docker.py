"""The one client for Docker engines, through the ``docker`` SDK's low-level API.

Engines are addressed by URL (unix://, tcp://, ssh://). Every call has the
configured timeout, and library errors become the project's own: an engine that
cannot be reached is ``EngineDown`` (naming it), a container that vanished is
``ContainerGone``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import docker
import requests
from django.conf import settings
from docker import errors as docker_errors

API_VERSION = "1.41"  # Docker 20.10+; pinned so a client costs no version round trip


class EngineDown(Exception):
    def __init__(self, host: str, reason: str):
        super().__init__(f"Docker engine {host} unavailable: {reason}")
        self.host = host


class ContainerGone(Exception):
    pass


class ContainerNotRunning(Exception):
    """Docker's 409 to an exec: the container is stopped, paused or restarting."""


def host_label(url: str) -> str:
    """An engine URL fit for messages: never a password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_clients: dict[str, docker.APIClient] = {}
_clients_lock = threading.Lock()


def _client(url: str) -> docker.APIClient:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = docker.APIClient(
                base_url=url, version=API_VERSION, timeout=settings.WALLETOPS_DOCKER_TIMEOUT,
                use_ssh_client=url.startswith("ssh://"),
            )  # fmt: skip
        return client


@contextmanager
def _translated(url: str):
    try:
        yield
    except docker_errors.NotFound as exc:
        raise ContainerGone(str(exc)) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise EngineDown(host_label(url), type(exc).__name__) from None
    except docker_errors.DockerException as exc:
        if isinstance(exc, docker_errors.APIError) and exc.is_client_error():
            raise
        raise EngineDown(host_label(url), str(exc)[:200]) from None


def _call(url: str, method: str, *args, **kwargs):
    with _translated(url):
        return getattr(_client(url), method)(*args, **kwargs)


def containers_with_label(url: str, label: str) -> list[dict]:
    """Summaries of every container (running or not) that carries ``label``."""
    return _call(url, "containers", all=True, filters={"label": [label]})


def container_inspect(url: str, container_id: str) -> dict:
    return _call(url, "inspect_container", container_id)


def container_stats(url: str, container_id: str) -> dict:
    """One ``docker stats --no-stream`` sample (the engine takes one to two seconds)."""
    return _call(url, "stats", container_id, stream=False)


def container_logs(url: str, container_id: str, *, tail: int, since: datetime | None, until: datetime | None) -> str:
    kwargs = {"stdout": True, "stderr": True, "timestamps": True, "tail": tail}
    if since is not None:
        kwargs["since"] = since
    if until is not None:
        kwargs["until"] = until
    return _call(url, "logs", container_id, **kwargs).decode("utf-8", errors="replace")


def container_exec(url: str, container_id: str, command: list[str]) -> tuple[int | None, str]:
    """Run ``command`` in the container and return (exit code, output)."""
    try:
        exec_id = _call(url, "exec_create", container_id, command, stdout=True, stderr=True)["Id"]
        output = _call(url, "exec_start", exec_id).decode("utf-8", errors="replace")
    except docker_errors.APIError as exc:
        if exc.status_code == 409:  # "container ... is not running" (or paused, or restarting)
            raise ContainerNotRunning(str(exc.explanation or exc)[:200]) from None
        raise
    return _call(url, "exec_inspect", exec_id).get("ExitCode"), output


def container_restart(url: str, container_id: str, *, timeout: int) -> None:
    # The HTTP call lasts up to the stop timeout plus the start: a client of its own with room for it.
    client = docker.APIClient(
        base_url=url, version=API_VERSION, timeout=timeout + settings.WALLETOPS_DOCKER_TIMEOUT,
        use_ssh_client=url.startswith("ssh://"),
    )  # fmt: skip
    try:
        with _translated(url):
            client.restart(container_id, timeout=timeout)
    finally:
        client.close()
