"""Kamal's audit lines, lock details and hook variables parsed as Kamal 2.12.0 writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.walletops.kamal_files import audit_record, lock_acquire
from walletops.deploys.formats import (
    HookEventInvalid,
    LockUnreadable,
    audit_line_parse,
    hook_event_parse,
    lock_details_parse,
)

T0 = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
SERVICE = "wallet-core"


def _lines(host, name):
    return (host / ".kamal" / name).read_text().splitlines()


def test_a_deploy_on_three_hosts_reads_back_with_destination_and_role(tmp_path):
    hosts = [tmp_path / name for name in ("web-1", "web-2", "worker-1")]
    for host, role in zip(hosts, ["web", "web", "workers"], strict=True):
        host.mkdir()
        who = "ana@example.com"
        audit_record(host, SERVICE, T0, who, "Pulled image with version 4f1c2e9", destination="production")
        audit_record(host, SERVICE, T0, who, "Booted app version 4f1c2e9", destination="production", role=role)
        audit_record(host, SERVICE, T0, who, "Executed cmd 'bin/rails db:migrate' on app version 4f1c2e9",
                     destination="production", role=role)  # fmt: skip
    lines = [_lines(host, "wallet-core-production-audit.log") for host in hosts]
    parsed = [[audit_line_parse(line, destinations={"staging", "production"}) for line in host] for host in lines]
    pulled, booted, executed = parsed[2]
    assert (pulled.destination, pulled.role, pulled.message.kind, pulled.message.version) == (
        "production", "", "pulled", "4f1c2e9"
    )  # fmt: skip
    assert (booted.destination, booted.role, booted.message.kind) == ("production", "workers", "booted")
    assert booted.recorded_at == T0 and booted.performer == "ana@example.com"
    assert (executed.message.kind, executed.message.detail, executed.message.version) == (
        "executed", "bin/rails db:migrate", "4f1c2e9"
    )  # fmt: skip
    assert [line.role for line in parsed[0]] == ["", "web", "web"]


def test_a_destination_less_app_has_its_role_in_the_second_bracket(tmp_path):
    audit_record(tmp_path, SERVICE, T0, "ci", "Booted app version v42", role="web")
    audit_record(tmp_path, SERVICE, T0, "ci", "Stopped app", role="job")
    booted, stopped = (audit_line_parse(line, destinations=set()) for line in _lines(tmp_path, "wallet-core-audit.log"))
    assert (booted.destination, booted.role) == ("", "web")
    assert (booted.message.kind, booted.message.version) == ("booted", "v42")
    assert (stopped.role, stopped.message.kind) == ("job", "stopped")
    # The same line read as if "web" were a destination: the parser follows what the app's destinations say.
    assert audit_line_parse(_lines(tmp_path, "wallet-core-audit.log")[0], destinations={"web"}).destination == "web"


@pytest.mark.parametrize(
    ("message", "kind", "subject", "version"),
    [
        ("Started app version abc", "started", "app", "abc"),
        ("Stopped app", "stopped", "app", ""),
        ("Removed app container with version abc", "removed", "app", "abc"),
        ("Removed all app containers", "removed", "app", ""),
        ("Removed .kamal/apps/wallet-core-production", "removed", "app", ""),
        ("Renaming container abc to abc_replaced_0123456789abcdef", "renamed", "app", "abc"),
        ("Pruned images", "pruned", "app", ""),
        ("Pruned containers", "pruned", "app", ""),
        ("Tagging registry/wallet-core:abc as the latest image", "tagged", "app", ""),
        ("Rebooted proxy", "rebooted", "proxy", ""),
        ("Booted redis accessory", "booted", "accessory", ""),
        ("Executed cmd 'uptime' on 10.0.0.5", "executed", "server", ""),
        ("Pull redis accessory image", "pulled", "accessory", ""),
        ("Remove redis accessory container", "removed", "accessory", ""),
        ("Something Kamal 3 might write", "other", "", ""),
    ],
)
def test_every_message_kamal_records_is_classified_and_unknown_ones_kept(tmp_path, message, kind, subject, version):
    audit_record(tmp_path, SERVICE, T0, "ci", message, destination="staging", role="web")
    line = audit_line_parse(_lines(tmp_path, "wallet-core-staging-audit.log")[0], destinations={"staging"})
    assert (line.message.kind, line.message.subject, line.message.version) == (kind, subject, version)
    assert line.text == message


@pytest.mark.parametrize("line", ["", "garbage", "[not a time] [ci] Booted app version x", "[2026-12-07T18:00:00Z]"])
def test_a_line_that_is_not_kamals_is_refused(line):
    assert audit_line_parse(line, destinations=set()) is None


def test_a_lock_written_by_kamal_parses_with_its_60_column_base64(tmp_path):
    message = "Automatic deploy lock — a longer message so that the base64 wraps over several sixty-column lines"
    folder = lock_acquire(tmp_path, SERVICE, T0, holder="Ana Lima", version="4f1c2e9", message=message,
                          destination="production")  # fmt: skip
    raw = (folder / "details").read_text()
    assert folder.name == "lock-wallet-core-production"
    assert max(len(row) for row in raw.splitlines()) == 60 and raw.endswith("\n\n")
    details = lock_details_parse(raw)
    assert (details.holder, details.locked_at, details.version, details.message) == ("Ana Lima", T0, "4f1c2e9", message)


def test_a_damaged_lock_is_unreadable_not_a_crash():
    with pytest.raises(LockUnreadable):
        lock_details_parse("not base64 at all!")
    with pytest.raises(LockUnreadable):
        lock_details_parse("aGVsbG8=\n")  # "hello"


def test_a_hook_event_keeps_only_kamals_variables():
    event = hook_event_parse(
        "post-deploy",
        {
            "KAMAL_RECORDED_AT": "2026-12-07T18:00:00Z", "KAMAL_PERFORMER": "ana", "KAMAL_SERVICE": SERVICE,
            "KAMAL_DESTINATION": "production", "KAMAL_VERSION": "4f1c2e9", "KAMAL_HOSTS": "web-1,web-2,worker-1",
            "KAMAL_ROLES": "web,workers", "KAMAL_LOCK": "false", "KAMAL_COMMAND": "deploy", "KAMAL_RUNTIME": "93",
            "DATABASE_PASSWORD": "s3cret",
        },
    )  # fmt: skip
    assert event.hosts == ("web-1", "web-2", "worker-1") and event.roles == ("web", "workers")
    assert (event.runtime_seconds, event.lock, event.recorded_at) == (93, False, T0)
    assert "s3cret" not in repr(event)
    with pytest.raises(HookEventInvalid):
        hook_event_parse("post-deploy", {"KAMAL_SERVICE": SERVICE, "KAMAL_RECORDED_AT": "yesterday"})
    with pytest.raises(HookEventInvalid):
        hook_event_parse("rm -rf", {})
