"""Helpers shared by the wallet ops tests (and the portal's and the browser's that reuse their servers)."""

from __future__ import annotations

import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# How long a gunicorn started from the Procfile's web line may take to answer, on a loaded machine.
START_WAIT = 300


def procfile_web_command(env: dict[str, str]) -> str:
    """The Procfile's web line, its ``${VAR:-default}`` expanded from ``env`` (as the image's shell does)."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web: "))
    command = line.removeprefix("web: ")

    def expand(match):
        name, default = match.group(1), match.group(2) or ""
        return env.get(name) or default

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", expand, command)


TICK = 'n=0; while true; do echo "{label} $n"; n=$((n+1)); sleep 0.2; done'
COLOURED = "printf '\\033[1;32mgreen\\033[0m plain\\n'; exec sleep 100000"
# A deadline for what must happen, not a measure of how fast: on a loaded machine (load 13 on 2
# cores) events come seconds late. The settings the tests wait out (idle, max duration) are 2 s.
WAIT = 60


def container_wrote(client, name: str, count: int) -> None:
    """Wait until ``name`` has written ``count`` lines: its log then holds them, however slow the machine."""
    limit = time.monotonic() + WAIT
    while len(client.containers.get(name).logs(tail=count).splitlines()) < count:
        assert time.monotonic() < limit, f"{name} wrote fewer than {count} lines in {WAIT} s"
        time.sleep(0.1)


def tickers_wrote(tickers, count: int) -> None:
    for label, client in tickers.items():
        container_wrote(client, f"wallet-core-follow-ticker-{label}", count)


def health_awaited(engine_url: str, name: str, status: str, *, timeout: int = WAIT) -> None:
    """Wait for the engine's own ``health_status: <status>`` event of ``name``, or find it so already.

    The event stream is opened before the state is read, so a change between the two is not missed; the
    engine ends the stream at the deadline (``until``), so nothing polls and nothing hangs."""
    import docker

    client = docker.DockerClient(base_url=engine_url, version="1.41")
    events = client.events(
        filters={"type": "container", "container": name}, until=int(time.time()) + timeout, decode=True
    )
    try:
        if (client.containers.get(name).attrs["State"].get("Health") or {}).get("Status") == status:
            return
        for event in events:
            if event.get("Action") == f"health_status: {status}":
                return
    finally:
        events.close()
        client.close()
    raise AssertionError(f"{name} never became {status} in {timeout} s")


def log_line_awaited(engine_url: str, name: str, start: bytes, *, timeout: int = WAIT) -> None:
    """Follow ``name``'s log until a line starts with ``start``: the engine sends each line as it is written.
    The read blocks; ``deadline`` interrupts it, so a container that never writes it fails the test."""
    import docker

    from tests.deadlines import TooSlow, deadline

    client = docker.DockerClient(base_url=engine_url, version="1.41")
    stream = client.containers.get(name).logs(stream=True, follow=True)
    seen = b"\n"  # the end of what was read so far: enough to find a line's start across chunks
    try:
        with deadline(timeout):
            for chunk in stream:
                seen = seen[-len(start) - 1 :] + chunk
                if b"\n" + start in seen:
                    return
    except TooSlow:
        pass
    finally:
        stream.close()
        client.close()
    raise AssertionError(f"{name} wrote no line starting with {start!r} in {timeout} s")
