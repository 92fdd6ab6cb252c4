"""The one client for Docker engines, through the ``docker`` SDK's low-level API.

Engines are addressed by URL (unix://, tcp://, ssh://). Every call has the
configured timeout, and library errors become the project's own: an engine that
cannot be reached is ``EngineDown`` (naming it), a container that vanished is
``ContainerGone``.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
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
            client = _clients[url] = _new_client(url, timeout=settings.WALLETOPS_DOCKER_TIMEOUT)
        return client


def _new_client(url: str, *, timeout: float) -> docker.APIClient:
    client = docker.APIClient(base_url=url, version=API_VERSION, timeout=timeout,
                              use_ssh_client=url.startswith("ssh://"))  # fmt: skip
    # requests re-reads the proxy variables (and .netrc) from the environment at every call: ~20 % of the
    # portal's CPU for a fleet view. No proxy can stand between the portal and a Unix socket or an ssh
    # tunnel, so those clients skip the lookup; tcp:// engines keep honouring HTTPS_PROXY / NO_PROXY.
    client.trust_env = not url.startswith(("unix://", "ssh://"))
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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOG_READ_SIZE = 64 * 1024
FRAME_HEADER = struct.Struct(">BxxxL")  # stream (0 stdin, 1 stdout, 2 stderr, 3 system), 3 zero bytes, payload size
LOG_TIME = re.compile(rb"\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) ")


def _unix(moment: datetime) -> str:
    """Docker's ``seconds.nanoseconds`` (the SDK's own conversion drops the fraction)."""
    delta = moment - EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}000"


def container_log_lines(
    url: str, container_id: str, *, tail: int, since: datetime | None, until: datetime | None, max_bytes: int
) -> Iterator[bytes]:
    """The container's log, oldest first, one ``b"<RFC 3339 time> <text>"`` per line (no newline), as it arrives.

    Streamed rather than read whole: a tail of 5,000 long lines is 100 MB, and the caller keeps only
    what it returns. Every read has the configured timeout (the SDK's own streaming turns it off, so a
    stalled engine would hold a worker forever). The text of a line keeps its first ``max_bytes`` bytes
    and one more when it was longer, so the caller can tell. Docker splits a line longer than 16 KiB
    into partial messages with a time each: they are joined again, without the repeated times (for a
    container with a TTY the stream has no message boundaries, so they stay as Docker sends them).
    Raises ``EngineDown`` or ``ContainerGone`` while iterating.
    """
    params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0, "tail": tail}
    if since is not None and since > EPOCH:
        params["since"] = _unix(since)
    if until is not None:
        if until <= EPOCH:  # no log line is that old, and Docker reads an until in year 1 as "no limit"
            return
        params["until"] = _unix(until)
    with _translated(url):
        client = _client(url)
        response = client.get(
            f"{client.base_url}/v{API_VERSION}/containers/{container_id}/logs",
            params=params,
            stream=True,
            timeout=settings.WALLETOPS_DOCKER_TIMEOUT,
        )
        try:
            try:
                response.raise_for_status()
            except requests.exceptions.HTTPError as exc:
                docker_errors.create_api_error_from_http_exception(exc)  # raises NotFound, APIError, ...
            try:
                yield from _log_lines(response.iter_content(LOG_READ_SIZE), max_bytes + 1)
            except requests.exceptions.ChunkedEncodingError as exc:  # the engine went away mid-answer
                raise EngineDown(host_label(url), type(exc).__name__) from None
        finally:
            response.close()


def _log_lines(chunks: Iterator[bytes], keep: int) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if buffer:
            break
    if not buffer:
        return
    # With timestamps=1 a raw (TTY) stream starts with a digit; a multiplexed one with a frame header.
    if buffer[0] <= 3:
        yield from _joined(_frames(buffer, chunks), keep)
    else:
        yield from _split(buffer, chunks, keep)


def _frames(buffer: bytearray, chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """The frames of a multiplexed stream: (stream, one log message)."""
    while True:
        start = 0
        while len(buffer) - start >= FRAME_HEADER.size:
            stream, size = FRAME_HEADER.unpack_from(buffer, start)
            end = start + FRAME_HEADER.size + size
            if len(buffer) < end:
                break
            yield stream, bytes(buffer[start + FRAME_HEADER.size : end])
            start = end
        del buffer[:start]
        chunk = next(chunks, None)
        if chunk is None:
            return
        buffer += chunk


def _joined(frames: Iterator[tuple[int, bytes]], keep: int) -> Iterator[bytes]:
    """Lines from messages; a message without its newline is partial, continued by the next one of its stream."""
    partial: dict[int, list] = {}  # stream -> [line so far, bytes of text it may still take]
    for stream, message in frames:
        complete = message.endswith(b"\n")
        if complete:
            message = message[:-1]
        started = partial.pop(stream, None)
        if started is None:
            stamp, _, text = message.partition(b" ")
            started = [bytearray(stamp + b" "), keep]
        else:  # the same line's next piece: drop its own time
            stamp = LOG_TIME.match(message)
            text = message[stamp.end() :] if stamp else message
        line, room = started
        if room > 0:
            line += text[:room]
            started[1] = room - min(len(text), room)
        if complete:
            yield bytes(line)
        else:
            partial[stream] = started
    for line, _ in partial.values():
        yield bytes(line)


def _split(buffer: bytearray, chunks: Iterator[bytes], keep: int) -> Iterator[bytes]:
    """Lines of a raw stream, each kept to its time and ``keep`` bytes of text."""
    pending = bytearray()
    while True:
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            pending += buffer[start:end]
            yield _kept(pending, keep)
            pending.clear()
            start = end + 1
        pending += buffer[start:]
        buffer.clear()
        if len(pending) > keep + 64:  # a line without end: keep its head only
            del pending[keep + 64 :]
        chunk = next(chunks, None)
        if chunk is None:
            break
        buffer += chunk
    if pending:
        yield _kept(pending, keep)


def _kept(line: bytearray, keep: int) -> bytes:
    space = line.find(b" ")
    return bytes(line[: space + 1 + keep] if space >= 0 else line[:keep])


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
    client = _new_client(url, timeout=timeout + settings.WALLETOPS_DOCKER_TIMEOUT)
    try:
        with _translated(url):
            client.restart(container_id, timeout=timeout)
    finally:
        client.close()


def engine_ping(url: str) -> None:
    """``EngineDown`` unless the engine answers ``/_ping`` within the configured timeout."""
    _call(url, "ping")


class LogFollow:
    """A ``docker logs --follow`` of one container: its lines as they are written, until it stops.

    ``lines()`` blocks until the engine sends something; it ends when the container stops (the
    engine closes the stream) and raises ``EngineDown`` when the engine goes away. The read has
    no timeout (a quiet container sends nothing for hours): the caller watches the engine and
    calls ``close()`` from another thread, which shuts the socket down and so wakes the read.
    """

    def __init__(self, url: str, container_id: str, *, since: datetime | None, tail: int | str, max_bytes: int):
        self.url, self.max_bytes = url, max_bytes
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1, "tail": tail}
        if since is not None and since > EPOCH:
            params["since"] = _unix(since)
        self.closed = False
        with _translated(url):
            client = _client(url)
            self.response = client.get(
                f"{client.base_url}/v{API_VERSION}/containers/{container_id}/logs",
                params=params,
                stream=True,
                timeout=(settings.WALLETOPS_DOCKER_TIMEOUT, None),
            )
            try:
                self.response.raise_for_status()
            except requests.exceptions.HTTPError as exc:
                self.response.close()
                docker_errors.create_api_error_from_http_exception(exc)

    def lines(self) -> Iterator[bytes]:
        try:
            yield from _log_lines(self.response.iter_content(LOG_READ_SIZE), self.max_bytes + 1)
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError) as exc:
            if self.closed:
                return  # our own close() woke the read
            raise EngineDown(host_label(self.url), type(exc).__name__) from None

    def close(self) -> None:
        """Idempotent, from any thread: the blocked read returns at once."""
        if self.closed:
            return
        self.closed = True
        sock = getattr(getattr(self.response.raw, "connection", None), "sock", None)
        process = getattr(sock, "proc", None)  # ssh:// (docker's SSHSocket): the ssh command's pipes
        if process is not None:
            # Ended first: its stdout closes, so the reader blocked on it wakes, and closing the
            # response below cannot wait on that reader.
            with suppress(OSError):
                process.kill()
        elif sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # Closing a socket another thread reads: any error means it is closed.
        with suppress(Exception):
            self.response.close()
