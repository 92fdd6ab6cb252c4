"""Kamal's files written as Kamal 2.12.0 writes them on a host, by the same shell commands it runs there.

A folder stands for a host's home: ``.kamal/`` is Kamal's ``run_directory``. The audit line is appended
with ``mkdir -p .kamal && echo <line> >> .kamal/<service>[-<destination>]-audit.log``
(``Commands::Auditor#record``); the lock is ``mkdir .kamal/lock-…`` then ``echo "<encode64>" > …/details``
(``Commands::Lock#acquire``). The shell does the writing, as over SSH.
"""

from __future__ import annotations

import shlex
import subprocess
from datetime import datetime
from pathlib import Path

from walletops.deploys.formats import audit_file_name, lock_details_write, lock_dir_name


def kamal_stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # Ruby's Time#utc.iso8601


def audit_line(moment: datetime, performer: str, message: str, *, destination=None, role=None) -> str:
    tags = [kamal_stamp(moment), performer, destination, role]
    return " ".join(f"[{tag}]" for tag in tags if tag) + f" {message}"


def audit_record(host: Path, service: str, moment, performer, message, *, destination=None, role=None) -> None:
    line = audit_line(moment, performer, message, destination=destination, role=role)
    log = f".kamal/{audit_file_name(service, destination)}"
    subprocess.run(
        ["sh", "-c", f"mkdir -p .kamal && echo {shlex.quote(line)} >> {log}"], cwd=host, check=True
    )  # fmt: skip


def lock_acquire(host: Path, service: str, moment, *, holder, version, message, destination=None) -> Path:
    folder = f".kamal/{lock_dir_name(service, destination)}"
    packed = lock_details_write(holder, moment, version, message)[:-1]  # encode64's text; echo adds the last newline
    subprocess.run(
        ["sh", "-c", f'mkdir -p .kamal && mkdir {folder} && echo "{packed}" > {folder}/details'], cwd=host, check=True
    )  # fmt: skip
    return host / folder


def lock_release(host: Path, service: str, *, destination=None) -> None:
    folder = f".kamal/{lock_dir_name(service, destination)}"
    subprocess.run(["sh", "-c", f"rm {folder}/details && rm -r {folder}"], cwd=host, check=True)


def kamal_hosts(tmp_path: Path, settings, names, *, service: str) -> dict[str, Path]:
    """A folder per host with Kamal's run directory, and the settings that point the portal at them."""
    folders = {name: tmp_path / name for name in names}
    for folder in folders.values():
        (folder / ".kamal").mkdir(parents=True)
    settings.WALLETOPS_SERVICE = service
    settings.WALLETOPS_ENVS = ["staging", "production"]
    settings.WALLETOPS_KAMAL_RUN_DIRS = {name: folder / ".kamal" for name, folder in folders.items()}
    return folders
