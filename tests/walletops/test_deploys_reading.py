"""The hosts' run directories read incrementally (offsets in the database), and the deploy lock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.walletops.kamal_files import audit_line, audit_record, kamal_hosts, lock_acquire, lock_release
from walletops.deploys.reading import audit_files_refresh, locks_held
from walletops.models import DeployAuditFile, DeployAuditLine

T0 = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
SERVICE = "wallet-core"
HOSTS = {"web-1": "web", "web-2": "web", "worker-1": "workers"}


@pytest.fixture
def hosts(tmp_path, settings):
    folders = kamal_hosts(tmp_path, settings, HOSTS, service=SERVICE)
    return folders


def _deploy(hosts, moment, version, who="ana@example.com", destination="production"):
    for name, folder in hosts.items():
        audit_record(folder, SERVICE, moment, who, f"Pulled image with version {version}", destination=destination)
        audit_record(folder, SERVICE, moment + timedelta(seconds=20), who, f"Booted app version {version}",
                     destination=destination, role=HOSTS[name])  # fmt: skip


@pytest.mark.django_db
def test_each_pass_reads_only_what_was_appended(hosts):
    _deploy(hosts, T0, "v1")
    assert sum(read.added for read in audit_files_refresh()) == 6
    assert sum(read.added for read in audit_files_refresh()) == 0
    _deploy(hosts, T0 + timedelta(hours=1), "v2")
    assert sum(read.added for read in audit_files_refresh()) == 6
    booted = DeployAuditLine.objects.filter(kind="booted", host="worker-1").order_by("recorded_at")
    assert [(line.version, line.role, line.destination) for line in booted] == [
        ("v1", "workers", "production"), ("v2", "workers", "production")
    ]  # fmt: skip
    log = hosts["web-1"] / ".kamal" / "wallet-core-production-audit.log"
    assert DeployAuditFile.objects.get(host="web-1").offset == log.stat().st_size


@pytest.mark.django_db
def test_a_line_being_written_waits_for_its_newline(hosts):
    log = hosts["web-1"] / ".kamal" / "wallet-core-staging-audit.log"
    whole = audit_line(T0, "ci", "Stopped app", destination="staging", role="web")
    log.write_text(whole + "\n" + whole[:10])
    assert sum(read.added for read in audit_files_refresh()) == 1
    with log.open("a") as handle:
        handle.write(whole[10:] + "\n")
    assert sum(read.added for read in audit_files_refresh()) == 1
    assert DeployAuditLine.objects.filter(text="Stopped app").count() == 2


@pytest.mark.django_db
def test_a_truncated_or_replaced_file_is_read_again_from_the_start(hosts):
    _deploy(hosts, T0, "v1")
    audit_files_refresh()
    log = hosts["web-2"] / ".kamal" / "wallet-core-production-audit.log"
    # Replaced by a new, longer file (another inode): the old lines go, the new file's come.
    replacement = log.with_suffix(".new")
    lines = [audit_line(T0 + timedelta(days=1), "bo", f"Booted app version v{n}", destination="production",
                        role="web") for n in range(5)]  # fmt: skip
    replacement.write_text("\n".join(lines) + "\n")
    os.replace(replacement, log)
    reads = {read.host: read for read in audit_files_refresh()}
    assert reads["web-2"].restarted and reads["web-2"].added == 5
    assert not reads["web-1"].restarted
    assert sorted(DeployAuditLine.objects.filter(host="web-2").values_list("version", flat=True)) == [
        f"v{n}" for n in range(5)
    ]
    # Truncated in place (same inode, shorter): read again too.
    log.write_text(lines[0] + "\n")
    assert {read.host: read for read in audit_files_refresh()}["web-2"].restarted
    assert DeployAuditLine.objects.filter(host="web-2").count() == 1
    assert DeployAuditFile.objects.get(host="web-2").restarts == 2


@pytest.mark.django_db
def test_a_destination_less_app_reads_its_role_from_the_second_bracket(hosts, settings):
    settings.WALLETOPS_ENVS = ["web"]  # even a destination named like a role does not apply to a file without one
    audit_record(hosts["web-1"], SERVICE, T0, "ci", "Booted app version v9", role="web")
    audit_files_refresh()
    line = DeployAuditLine.objects.get()
    assert (line.destination, line.role, line.kind, line.version) == ("", "web", "booted", "v9")


@pytest.mark.django_db
def test_foreign_lines_are_counted_not_stored(hosts):
    log = hosts["web-1"] / ".kamal" / "wallet-core-audit.log"
    log.write_text("hello\n" + audit_line(T0, "ci", "Stopped app", role="web") + "\n")
    audit_files_refresh()
    assert DeployAuditLine.objects.count() == 1 and DeployAuditFile.objects.get().skipped == 1


def test_the_lock_shows_holder_age_version_and_message(hosts):
    assert locks_held() == []
    lock_acquire(hosts["web-1"], SERVICE, T0, holder="Ana Lima", version="v2", message="Automatic deploy lock",
                 destination="production")  # fmt: skip
    (lock,) = locks_held()
    assert (lock.host, lock.destination, lock.holder, lock.version, lock.message) == (
        "web-1", "production", "Ana Lima", "v2", "Automatic deploy lock"
    )  # fmt: skip
    assert lock.age_seconds(T0 + timedelta(days=28)) == 28 * 86400
    lock_release(hosts["web-1"], SERVICE, destination="production")
    assert locks_held() == []


def test_a_lock_without_its_details_is_still_held(hosts):
    (hosts["web-2"] / ".kamal" / "lock-wallet-core").mkdir()  # mkdir done, details not written yet
    (lock,) = locks_held()
    assert (lock.host, lock.destination, lock.holder) == ("web-2", "", "")
    assert lock.locked_at is not None and "details unreadable" in lock.problem


@pytest.mark.django_db
def test_a_chunk_without_any_newline_is_stepped_over_not_stalled_on(hosts, settings):
    from walletops.deploys import reading

    log = hosts["web-1"] / ".kamal" / "wallet-core-audit.log"
    line = audit_line(T0, "ci", "Stopped app", role="web")
    log.write_bytes(b"x" * reading.CHUNK_BYTES + b"tail of it\n" + line.encode() + b"\n")
    audit_files_refresh()  # the first chunk: no newline in it
    audit_files_refresh()  # the rest: a torn line's tail, then Kamal's line
    assert DeployAuditLine.objects.get().text == "Stopped app"
    assert DeployAuditFile.objects.get().skipped == 2


@pytest.mark.django_db
def test_beat_reads_the_audit_files_every_minute_without_a_visitor(hosts, settings):
    from opsportal.celery import app
    from walletops import tasks  # registered with the app, as a worker's autodiscovery does
    from walletops.deploys.timeline import Filters, timeline_page

    assert tasks
    entry = settings.CELERY_BEAT_SCHEDULE["walletops-deploys-read"]
    assert entry["schedule"] == 60.0

    def beat() -> dict:
        return app.tasks[entry["task"]].apply(kwargs=entry["kwargs"]).get()

    _deploy(hosts, T0, "v1")
    assert beat() == {"files": 3, "added": 6, "restarted": 0, "errors": []}
    # The timeline's own read (timeline_page) does not re-read the files: the beat's pass put the lines there.
    entries, _ = timeline_page(Filters(service=SERVICE, destination="production"))
    assert [entry["version"] for entry in entries if entry["kind"] == "booted"] == ["v1"] * 3
    assert beat()["state"] == "skipped"  # the other beat's copy within the minute
