"""A private Prometheus scraping private node exporters, on loopback ports.

Each node exporter stands for one host; Prometheus scrapes them every second so
``rate(...[5m])`` has samples within seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.process import process_stop


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerUnavailable(f"{name} is not installed; apt-get install {name}")
    return path


def _wait_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise ServerUnavailable(f"{url} did not come up: {log.read_text(errors='replace')[-800:]}")


class NodeExporter:
    def __init__(self, root: Path):
        self.binary = _binary("prometheus-node-exporter")
        self.root, self.port = Path(root), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"node-exporter-{self.port}.log"
        self.process = subprocess.Popen(
            [self.binary, f"--web.listen-address={self.target}"], stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        _wait_http(f"http://{self.target}/metrics", self.process, 20, log)
        return self.target

    def stop(self) -> None:
        process_stop(self.process, timeout=10)
        self.process = None


class PrivatePrometheus:
    def __init__(self, targets: list[str], root: Path | None = None):
        self.binary = _binary("prometheus")
        self.root = Path(root or tempfile.mkdtemp(prefix="opsprom-"))
        self.port, self.targets = free_port(), targets
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.targets)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{targets}]\n"
        )
        log = self.root / "prometheus.log"
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_http(f"{self.url}/-/ready", self.process, 60, log)
        return self.url

    def stop(self) -> None:
        process_stop(self.process, timeout=20)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
