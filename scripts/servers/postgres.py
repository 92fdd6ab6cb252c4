"""A private PostgreSQL cluster on a free loopback port, for tests, benchmarks and demos.

    python -m scripts.servers.postgres start var/pg   # prints DATABASE_URL
    python -m scripts.servers.postgres stop var/pg

As root, the cluster is owned and run by the ``postgres`` user (initdb refuses
root). Durability is traded for speed (fsync off): these clusters are disposable.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed, or it did not start."""


def postgres_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    def __init__(self, data_root: Path, port: int | None = None, settings: dict[str, str] | None = None):
        """``settings``: more server settings (``-c name=value``), e.g. a bench's bulk-load tuning."""
        self.root = Path(data_root).resolve()
        self.settings = dict(settings or {})
        self.data = self.root / "data"
        self.port = port or free_port()
        bindir = postgres_bindir()
        if bindir is None:
            raise ServerUnavailable("PostgreSQL is not installed (no initdb); apt-get install postgresql")
        self.bindir = bindir

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def start(self, timeout: float = 30.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            try:
                self._run(
                    "initdb",
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                )
            except subprocess.CalledProcessError as exc:
                raise ServerUnavailable(f"initdb failed: {exc.stderr.strip()}") from exc
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            check=False,
        )
        if result.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise ServerUnavailable(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")
        (self.root / "port").write_text(str(self.port))
        return self.url

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def restart(self, timeout: float = 30.0) -> str:
        """Stop (fast: open sessions are cut, as in a real restart) and start again, same port and data."""
        self.stop()
        return self.start(timeout=timeout)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise ServerUnavailable("PostgreSQL did not become ready")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop", "destroy"}:
        print(__doc__, file=sys.stderr)
        return 2
    action, root = argv[0], Path(argv[1])
    port_file = root.resolve() / "port"
    port = int(port_file.read_text()) if port_file.exists() else None
    server = PrivatePostgres(root, port=port)
    if action == "start":
        print(server.start())
    elif action == "stop":
        server.stop()
    else:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
