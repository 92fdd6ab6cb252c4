"""The portal's development server (``manage.py runserver``) on a free loopback port, for browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.process import process_stop

ROOT = Path(__file__).resolve().parents[2]


class PortalDevServer:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        handle, name = tempfile.mkstemp(prefix="opsportal-runserver-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)

    def start(self, timeout: float = 60) -> PortalDevServer:
        # --insecure: serve the admin's static files with DEBUG off, as the dev server does with it on.
        command = [sys.executable, "manage.py", "runserver", "--noreload", "--insecure", f"127.0.0.1:{self.port}"]
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"runserver exited {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/admin/login/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerUnavailable(f"runserver did not answer within {timeout:g} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        process_stop(self.process, timeout=10)
        self.log_path.unlink(missing_ok=True)
