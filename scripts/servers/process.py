"""Stopping a private server's process: politely, then firmly; and the ``start|stop DIR`` command line the
private servers share."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def process_stop(process: subprocess.Popen | None, *, timeout: float = 20) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; a process already gone is fine."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_stop_main(argv: list[str], *, usage: str, server: Callable[[Path], object],
                    stop: Callable[[int], None]) -> int:  # fmt: skip
    """``start DIR``: start ``server(DIR)``, leave it running and print its URL; ``stop DIR``: ``stop`` the pid
    it wrote in ``DIR/pid``. For ``make run``, which keeps a private server beside the portal."""
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print(usage, file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if argv[0] == "start":
        started = server(root)
        started.start()
        started.process = None  # keep it running after this command exits
        print(started.url)
    else:
        pid_file = root / "pid"
        if pid_file.exists():
            stop(int(pid_file.read_text().strip()))
            pid_file.unlink()
    return 0
