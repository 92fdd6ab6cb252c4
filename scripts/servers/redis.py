"""A private Redis on a free loopback port, for tests, benchmarks and demos.

python -m scripts.servers.redis start var/redis   # prints the redis:// URL
python -m scripts.servers.redis stop var/redis
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.process import process_stop, start_stop_main


class PrivateRedis:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root).resolve()
        self.port = port or free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("Redis is not installed (no redis-server); apt-get install redis-server")
        self.binary = binary
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ],
            stdout=(self.root / "server.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        (self.root / "pid").write_text(str(self.process.pid))
                        return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"Redis did not start: {(self.root / 'server.log').read_text()[-500:]}")

    def stop(self) -> None:
        process_stop(self.process, timeout=10)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    return start_stop_main(argv, usage=__doc__, server=PrivateRedis,
                           stop=lambda pid: subprocess.run(["kill", str(pid)], check=False))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
