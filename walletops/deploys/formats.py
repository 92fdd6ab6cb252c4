"""What Kamal writes, parsed as Kamal 2.12.0 writes it. Pure functions: no Django, no files.

Audit line (``Kamal::Commands::Auditor#audit_line``): ``"#{tags} #{line}"``, the tags being
``Kamal::Tags`` without version, service_version and service, nil ones dropped, each ``[value]``::

    [recorded_at] [performer] [destination]? [role]? message

so with no destination the bracket after the performer is the role: only the app's destinations tell.

Lock (``Kamal::Commands::Lock``): ``mkdir .kamal/lock-<service>[-<destination>]`` then
``echo "<Base64.encode64(details)>" > …/details``; ``encode64`` wraps at 60 columns, and the echo adds
a last newline. ``details``: ``Locked by: <git user.name> at <iso8601>\\nVersion: V\\nMessage: M``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime

AUDIT_SUFFIX = "audit.log"
LOCK_PREFIX = "lock"

_TAG = re.compile(r"\[([^\]]*)\] ?")


def audit_file_name(service: str, destination: str | None) -> str:
    """``<service>[-<destination>]-audit.log`` (``Auditor#audit_log_file``)."""
    return "-".join(part for part in (service, destination, AUDIT_SUFFIX) if part)


def lock_dir_name(service: str, destination: str | None) -> str:
    """``lock-<service>[-<destination>]`` (``Lock#lock_dir``)."""
    return "-".join(part for part in (LOCK_PREFIX, service, destination) if part)


def iso_parse(text: str) -> datetime | None:
    """Ruby's ``Time#iso8601`` (``2026-12-07T19:00:00Z``); None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


# The messages Kamal 2.12.0 records (git grep auditor.record lib), most specific first.
# Each: (kind, subject, pattern); named groups version/cmd/name/target become fields.
_MESSAGES: list[tuple[str, str, re.Pattern]] = [
    (kind, subject, re.compile(pattern))
    for kind, subject, pattern in [
        ("booted", "app", r"^Booted app version (?P<version>\S+)$"),
        ("started", "app", r"^Started app version (?P<version>\S+)$"),
        ("stopped", "app", r"^Stopped app$"),
        ("pulled", "app", r"^Pulled image with version (?P<version>\S+)$"),
        ("executed", "app", r"^Executed cmd '(?P<cmd>.*)' on app version (?P<version>\S+)$"),
        ("executed", "accessory", r"^Executed cmd '(?P<cmd>.*)' on (?P<name>\S+) accessory$"),
        ("executed", "server", r"^Executed cmd '(?P<cmd>.*)' on (?P<target>\S+)$"),
        ("removed", "app", r"^Removed app container with version (?P<version>\S+)$"),
        ("removed", "app", r"^Removed all app (?:containers|images)$"),
        ("removed", "proxy", r"^Removed proxy (?:container|image)$"),
        ("removed", "accessory", r"^Removed? (?P<name>\S+) accessory (?:container|image)$"),
        ("removed", "app", r"^Removed (?P<target>\S+)$"),
        ("renamed", "app", r"^Renaming container (?P<version>\S+) to (?P<target>\S+)$"),
        ("pruned", "app", r"^Pruned (?:images|containers)$"),
        ("tagged", "app", r"^Tagging (?P<target>\S+) as the latest image$"),
        ("rebooted", "proxy", r"^Rebooted proxy$"),
        ("started", "proxy", r"^Started proxy$"),
        ("stopped", "proxy", r"^Stopped proxy$"),
        ("booted", "accessory", r"^Booted (?P<name>\S+) accessory$"),
        ("started", "accessory", r"^Started (?P<name>\S+) accessory$"),
        ("stopped", "accessory", r"^Stopped (?P<name>\S+) accessory$"),
        ("pulled", "accessory", r"^Pull (?P<name>\S+) accessory image$"),
    ]
]
KINDS = sorted({kind for kind, _, _ in _MESSAGES} | {"other"})


@dataclass(frozen=True)
class Message:
    kind: str  # booted, started, stopped, pulled, executed, removed, renamed, pruned, tagged, rebooted, other
    subject: str  # app, proxy, accessory, server; "" for other
    version: str = ""
    detail: str = ""  # the command, the accessory's name or the target, when the message names one


def message_classify(text: str) -> Message:
    """One of the messages Kamal records, or ``other`` (the text is kept verbatim by the caller)."""
    for kind, subject, pattern in _MESSAGES:
        match = pattern.match(text)
        if match:
            groups = match.groupdict()
            detail = groups.get("cmd") or groups.get("name") or groups.get("target") or ""
            return Message(kind=kind, subject=subject, version=groups.get("version") or "", detail=detail)
    return Message(kind="other", subject="")


@dataclass(frozen=True)
class AuditLine:
    recorded_at: datetime
    performer: str
    destination: str  # "" for a destination-less app
    role: str  # "" when the line names no role
    text: str  # the message, verbatim
    message: Message = field(default_factory=lambda: Message(kind="other", subject=""))


def audit_line_parse(line: str, *, destinations: set[str] | frozenset[str]) -> AuditLine | None:
    """One line of ``<service>[-<destination>]-audit.log``; None when it is not one (a torn or foreign line).

    ``destinations``: the app's destinations; the bracket after the performer is the destination only
    when it is one of them, otherwise it is the role (a destination-less app: ``[ts] [who] [web] …``).
    """
    line = line.rstrip("\r\n")
    position = 0

    def tag() -> str | None:
        nonlocal position
        match = _TAG.match(line, position)
        if not match:
            return None
        position = match.end()
        return match.group(1)

    stamp, performer = tag(), tag()
    recorded_at = iso_parse(stamp) if stamp is not None else None
    if recorded_at is None or performer is None:
        return None
    destination = role = ""
    # Kamal writes at most two more tags (destination, role; Auditor passes only role: as a detail).
    before = position
    third = tag()
    if third is not None and third in destinations:
        destination = third
        before = position
        role = tag() or ""
        if not role:
            position = before
    elif third is not None:
        role = third
    else:
        position = before
    text = line[position:]
    return AuditLine(
        recorded_at=recorded_at,
        performer=performer,
        destination=destination,
        role=role,
        text=text,
        message=message_classify(text),
    )


@dataclass(frozen=True)
class LockDetails:
    holder: str
    locked_at: datetime | None
    version: str
    message: str


class LockUnreadable(ValueError):
    """The details file is not base64 of Kamal's three lines."""


_LOCKED_BY = re.compile(r"^Locked by: (?P<holder>.*) at (?P<at>\S+)$")


def lock_details_parse(raw: bytes | str) -> LockDetails:
    """The ``details`` file of a Kamal lock: base64 wrapped at 60 columns, maybe quoted, trailing newlines."""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    packed = "".join(text.split()).strip('"')
    try:
        decoded = base64.b64decode(packed, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise LockUnreadable(f"not base64 of UTF-8 text: {exc}") from None
    first, _, remainder = decoded.partition("\n")
    locked = _LOCKED_BY.match(first)
    if not locked:
        raise LockUnreadable("no 'Locked by: <name> at <time>' line")
    version_line, _, message_part = remainder.partition("\n")
    if not version_line.startswith("Version: ") or not message_part.startswith("Message: "):
        raise LockUnreadable("no 'Version:' and 'Message:' lines")
    return LockDetails(
        holder=locked.group("holder"),
        locked_at=iso_parse(locked.group("at")),
        version=version_line.removeprefix("Version: "),
        message=message_part.removeprefix("Message: "),  # may span lines: Kamal writes it as given
    )


def lock_details_write(holder: str, locked_at: datetime, version: str, message: str) -> str:
    """The file ``kamal lock acquire`` leaves (``echo "<encode64>" > details``): for tests and the demo.

    Ruby's ``Base64.encode64`` breaks every 60 characters and ends with a newline; echo adds one more.
    """
    stamp = locked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    details = f"Locked by: {holder} at {stamp}\nVersion: {version}\nMessage: {message}"
    packed = base64.b64encode(details.encode("utf-8")).decode("ascii")
    wrapped = "".join(f"{packed[i : i + 60]}\n" for i in range(0, len(packed), 60))
    return wrapped + "\n"


# The variables ``Kamal::Tags#env`` and ``Cli::Base#run_hook`` give a hook (cli/base.rb, cli/main.rb).
# Only these are kept: Kamal also passes the app's secrets to pre-deploy and post-deploy.
HOOK_VARIABLES = (
    "KAMAL_RECORDED_AT",
    "KAMAL_PERFORMER",
    "KAMAL_DESTINATION",
    "KAMAL_VERSION",
    "KAMAL_SERVICE_VERSION",
    "KAMAL_SERVICE",
    "KAMAL_HOSTS",
    "KAMAL_ROLES",
    "KAMAL_LOCK",
    "KAMAL_COMMAND",
    "KAMAL_SUBCOMMAND",
    "KAMAL_RUNTIME",
)
HOOKS = ("pre-connect", "pre-build", "pre-deploy", "post-deploy", "pre-app-boot", "post-app-boot")


@dataclass(frozen=True)
class HookEvent:
    hook: str
    recorded_at: datetime
    performer: str
    service: str
    destination: str
    version: str
    service_version: str
    hosts: tuple[str, ...]
    roles: tuple[str, ...]
    lock: bool | None  # KAMAL_LOCK: "true" while Kamal held the lock when it ran the hook
    command: str
    subcommand: str
    runtime_seconds: int | None  # KAMAL_RUNTIME, post-deploy only


class HookEventInvalid(ValueError):
    pass


def hook_event_parse(hook: str, variables: dict[str, str]) -> HookEvent:
    """A hook run from its ``KAMAL_*`` variables; unknown variables are ignored (never stored)."""
    if hook not in HOOKS:
        raise HookEventInvalid(f"hook: one of {', '.join(HOOKS)}")
    get = {name: str(variables.get(name) or "").strip() for name in HOOK_VARIABLES}
    recorded_at = iso_parse(get["KAMAL_RECORDED_AT"])
    if recorded_at is None:
        raise HookEventInvalid("KAMAL_RECORDED_AT: an ISO 8601 time with its zone")
    if not get["KAMAL_SERVICE"]:
        raise HookEventInvalid("KAMAL_SERVICE: required")
    runtime = get["KAMAL_RUNTIME"]
    if runtime and not runtime.isdigit():
        raise HookEventInvalid("KAMAL_RUNTIME: whole seconds")
    lock = {"true": True, "false": False}.get(get["KAMAL_LOCK"])
    return HookEvent(
        hook=hook,
        recorded_at=recorded_at,
        performer=get["KAMAL_PERFORMER"],
        service=get["KAMAL_SERVICE"],
        destination=get["KAMAL_DESTINATION"],
        version=get["KAMAL_VERSION"],
        service_version=get["KAMAL_SERVICE_VERSION"],
        hosts=tuple(host for host in get["KAMAL_HOSTS"].split(",") if host),
        roles=tuple(role for role in get["KAMAL_ROLES"].split(",") if role),
        lock=lock,
        command=get["KAMAL_COMMAND"],
        subcommand=get["KAMAL_SUBCOMMAND"],
        runtime_seconds=int(runtime) if runtime else None,
    )


def held_for(seconds: int | None) -> str:
    """A lock's age for people: ``28 d 3 h 5 min``, ``2 h 0 min``."""
    if seconds is None:
        return "an unknown time"
    days, rest = divmod(seconds, 86400)
    return (f"{days} d " if days else "") + f"{rest // 3600} h {rest % 3600 // 60} min"
