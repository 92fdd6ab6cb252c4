"""The hosts' Kamal run directories, read: audit files incrementally into the database, and the lock.

Each host's ``~/.kamal`` is mounted into the portal (``WALLETOPS_KAMAL_RUN_DIRS``). Kamal only appends
to an audit file and never rotates it, so a file is read from where the last pass stopped (its row's
``offset``, the end of the last whole line: a line being written is left for the next pass). A file
that is now shorter than that offset, or has another inode, was truncated or replaced: its stored lines
are dropped and it is read again from the start, so the timeline shows what the hosts hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from walletops.deploys.formats import (
    LockUnreadable,
    audit_file_name,
    audit_line_parse,
    lock_details_parse,
    lock_dir_name,
)
from walletops.models import DeployAuditFile, DeployAuditLine

CHUNK_BYTES = 4 * 1024 * 1024  # one read of a file per pass at most: a huge backlog is caught up over passes
BATCH = 2000


def destinations_known() -> list[str]:
    """The app's destinations: wallet ops' envs (``WALLETOPS_ENVS``), Kamal's ``-d`` names."""
    return list(settings.WALLETOPS_ENVS)


def _audit_files(run_dir: Path, service: str) -> list[tuple[Path, str]]:
    """(path, destination) of the service's audit files present in one run directory."""
    names = [(audit_file_name(service, None), "")] + [
        (audit_file_name(service, destination), destination) for destination in destinations_known()
    ]
    return [(run_dir / name, destination) for name, destination in names if (run_dir / name).is_file()]


@dataclass(frozen=True)
class FileRead:
    host: str
    name: str
    added: int
    restarted: bool
    error: str = ""


def audit_file_read(host: str, path: Path, destination: str, *, service: str) -> FileRead:
    """Read what was appended to one audit file since the last pass, under its row's lock."""
    try:
        status = path.stat()
    except OSError as exc:
        return FileRead(host, path.name, 0, False, error=f"{type(exc).__name__}: {exc.strerror}")
    with transaction.atomic():
        DeployAuditFile.objects.get_or_create(host=host, name=path.name, defaults={"destination": destination})
        row = DeployAuditFile.objects.select_for_update().get(host=host, name=path.name)
        restarted = row.offset > 0 and (status.st_size < row.offset or (row.inode not in (None, status.st_ino)))
        if restarted:
            row.lines.all().delete()
            row.offset, row.skipped, row.restarts = 0, 0, row.restarts + 1
        row.inode = status.st_ino
        added = 0
        if status.st_size > row.offset:
            with path.open("rb") as handle:
                handle.seek(row.offset)
                chunk = handle.read(CHUNK_BYTES)
            end = chunk.rfind(b"\n") + 1  # whole lines only
            if end == 0 and len(chunk) == CHUNK_BYTES:
                # No newline in a whole chunk: not a line Kamal wrote; step over it rather than stall here.
                row.offset += len(chunk)
                row.skipped += 1
            else:
                added, skipped = _lines_store(row, chunk[:end], service=service, destination=destination)
                row.offset += end
                row.skipped += skipped
        row.read_at = timezone.now()
        row.save()
    return FileRead(host, path.name, added, restarted)


def _lines_store(row: DeployAuditFile, data: bytes, *, service: str, destination: str) -> tuple[int, int]:
    known = {destination} if destination else set()  # a destination-less file: the 2nd bracket is a role
    lines, skipped, offset = [], 0, row.offset
    for raw in data.split(b"\n")[:-1]:
        start, offset = offset, offset + len(raw) + 1
        parsed = audit_line_parse(raw.decode("utf-8", "replace"), destinations=known)
        if parsed is None:
            skipped += 1
            continue
        message = parsed.message
        lines.append(
            DeployAuditLine(
                file=row, host=row.host, service=service, destination=parsed.destination, role=parsed.role,
                recorded_at=parsed.recorded_at, performer=parsed.performer[:255], kind=message.kind,
                subject=message.subject, version=message.version[:255], detail=message.detail, text=parsed.text,
                offset=start,
            )
        )  # fmt: skip
    DeployAuditLine.objects.bulk_create(lines, batch_size=BATCH)
    return len(lines), skipped


def audit_files_refresh(*, service: str | None = None) -> list[FileRead]:
    """One pass over every host's audit files of the service (cheap when nothing was appended)."""
    service = service or settings.WALLETOPS_SERVICE
    reads = []
    for host, run_dir in settings.WALLETOPS_KAMAL_RUN_DIRS.items():
        if not run_dir.is_dir():
            reads.append(FileRead(host, "", 0, False, error=f"{run_dir} is not a folder (not mounted?)"))
            continue
        for path, destination in _audit_files(run_dir, service):
            reads.append(audit_file_read(host, path, destination, service=service))
    return reads


@dataclass(frozen=True)
class DeployLock:
    host: str
    destination: str
    holder: str
    locked_at: datetime | None
    version: str
    message: str
    problem: str = ""  # why the details could not be read (the directory alone says it is held)

    def age_seconds(self, now: datetime) -> int | None:
        return None if self.locked_at is None else max(0, int((now - self.locked_at).total_seconds()))


def locks_held(*, service: str | None = None) -> list[DeployLock]:
    """Every Kamal deploy lock present in a host's run directory (Kamal takes it on the primary host)."""
    service = service or settings.WALLETOPS_SERVICE
    held = []
    for host, run_dir in settings.WALLETOPS_KAMAL_RUN_DIRS.items():
        for destination in ["", *destinations_known()]:
            folder = run_dir / lock_dir_name(service, destination or None)
            if not folder.is_dir():
                continue
            held.append(_lock_read(host, destination, folder))
    return held


def _lock_read(host: str, destination: str, folder: Path) -> DeployLock:
    try:
        details = lock_details_parse((folder / "details").read_bytes()[: 64 * 1024])
    except (OSError, LockUnreadable) as exc:
        # Between ``mkdir`` and the details' write, or a damaged file: held since the directory was made.
        try:
            since = datetime.fromtimestamp(os.stat(folder).st_mtime, tz=UTC)
        except OSError:
            since = None
        problem = exc.strerror if isinstance(exc, OSError) else str(exc)
        return DeployLock(host, destination, "", since, "", "", problem=f"details unreadable: {problem}")
    return DeployLock(host, destination, details.holder, details.locked_at, details.version, details.message)
