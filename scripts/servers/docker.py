"""A private Docker engine on its own socket, and a tiny image built without a registry.

The engine runs with no iptables, no bridge and the vfs storage driver (no
kernel extras needed); containers use the host network. Images cannot be pulled
here, so ``busybox_image`` imports one from a rootfs holding Debian's
busybox-static.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from scripts.servers.postgres import ServerUnavailable
from scripts.servers.process import process_stop

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "wget", "sleep", "echo", "cat", "printf", "true", "false", "ls")


class PrivateDocker:
    def __init__(self, root: Path | None = None):
        binary = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None)
        if binary is None:
            raise ServerUnavailable("Docker is not installed (no dockerd); apt-get install docker.io")
        self.binary = binary
        # Short paths: containerd's sockets live under the exec root and unix paths are limited to 108 bytes.
        self.root = Path(root or tempfile.mkdtemp(prefix="opsdk-", dir="/tmp"))
        self.process: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
             "-H", self.url, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "x"),
             "--pidfile", str(self.root / "docker.pid")],
            stdout=(self.root / "dockerd.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            result = subprocess.run(
                ["curl", "-s", "--unix-socket", str(self.socket), "http://engine/_ping"], capture_output=True, text=True
            )
            if result.stdout == "OK":
                return self.url
            time.sleep(0.2)
        log = (self.root / "dockerd.log").read_text(errors="replace")[-1500:]
        self.stop()
        raise ServerUnavailable(f"dockerd did not start: {log}")

    def stop(self) -> None:
        process_stop(self.process, timeout=30)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        # dockerd leaves its network namespace bind-mounted under the exec root; unmount what is left
        # (deepest first) or the folder cannot be removed and /tmp fills up run after run.
        root = str(self.root.resolve()) + "/"
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1]
        for mount in sorted((m for m in mounts if m.startswith(root)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def busybox_rootfs_tar() -> bytes:
    """A root filesystem with busybox, its applets and a tiny web root, as a tar archive."""
    if not BUSYBOX.exists():
        raise ServerUnavailable("busybox-static is not installed (/bin/busybox); apt-get install busybox-static")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "www", "tmp"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        page = b"wallet-core ok\n"
        info = tarfile.TarInfo("www/index.html")
        info.size = len(page)
        tar.addfile(info, io.BytesIO(page))
    return buffer.getvalue()


def busybox_image(url: str, tag: str = "opsportal/busybox:test") -> str:
    """Import the busybox rootfs as an image on the engine at ``url``; returns the tag."""
    import docker

    client = docker.APIClient(base_url=url, version="1.41", timeout=120)
    try:
        client.import_image_from_data(busybox_rootfs_tar(), repository=tag.split(":")[0], tag=tag.split(":")[1])
    finally:
        client.close()
    return tag
