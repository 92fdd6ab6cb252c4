"""One deploy timeline per service and destination: every host's audit lines, the hooks' events, the
portal's own actions and the sources other layers add (the alerts fired and resolved: ``Source``), merged
newest first and paged with a cursor.

Each source is read in order from its index and merged lazily (``heapq.merge``): a page costs about
``limit`` rows of each source, whatever their size. The cursor is the last entry's (time, source, id), signed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.db.models import Q
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from walletops.deploys import reading
from walletops.deploys.formats import iso_parse
from walletops.models import DeployAuditLine, DeployHookEvent

# The order of sources at the same instant (newest first, then this rank, high first, then id).
RANK = {"audit": 2, "hook": 1, "portal": 0}
PORTAL_ACTIONS = ("container.", "containers.", "alerts.", "deploys.")  # the portal's actions around a deploy
MAX_LIMIT = 500
_SALT = "walletops.deploys.timeline"


class CursorInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    at: datetime
    rank: int
    id: int

    def encode(self) -> str:
        """Signed, as the API kit's cursors (``opsportal.api.paging``): a client cannot forge one."""
        return signing.dumps([self.at.isoformat(), self.rank, self.id], salt=_SALT, compress=True)

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            at, rank, ident = signing.loads(text, salt=_SALT)
            moment = iso_parse(at)
            if moment is None or rank not in _ranks() or not isinstance(ident, int):
                raise ValueError
            return cls(moment, rank, ident)
        except (signing.BadSignature, ValueError, TypeError):
            raise CursorInvalid("not a cursor this list gave (take it from a page's next)") from None


@dataclass(frozen=True)
class Filters:
    service: str
    destination: str
    host: str = ""
    role: str = ""
    performer: str = ""
    since: datetime | None = None
    until: datetime | None = None


def after_cursor(cursor: Cursor | None, rank: int, field: str, ident: str = "id") -> Q:
    """Rows of one source that come after the cursor in (time desc, rank desc, id desc)."""
    if cursor is None:
        return Q()
    if rank < cursor.rank:
        return Q(**{f"{field}__lte": cursor.at})
    if rank > cursor.rank:
        return Q(**{f"{field}__lt": cursor.at})
    # The bound on the time alone, redundant, is what an index on (time, id) starts its scan from: the OR
    # alone is a filter, which reads every row newer than the cursor first (more, the deeper the page).
    return Q(**{f"{field}__lte": cursor.at}) & (
        Q(**{f"{field}__lt": cursor.at}) | Q(**{field: cursor.at, f"{ident}__lt": cursor.id})
    )


def in_window(filters: Filters, field: str) -> Q:
    q = Q()
    if filters.since:
        q &= Q(**{f"{field}__gte": filters.since})
    if filters.until:
        q &= Q(**{f"{field}__lt": filters.until})
    return q


def rows_chunked(queryset, size: int) -> Iterator:
    """Rows in the queryset's order, ``size`` at a time, each chunk its own ``LIMIT`` statement: a merge reads
    only what it takes (a page: one chunk of each source). Not ``iterator()``: outside a transaction Django's
    server-side cursor is ``WITH HOLD``, and PostgreSQL fills such a cursor with every row of the query when
    the statement commits (a million alerts read, and sorted, for each page)."""
    start = 0
    while True:
        chunk = list(queryset[start : start + size])
        yield from chunk
        if len(chunk) < size:
            return
        start += size


def _audit_lines(filters: Filters, cursor: Cursor | None, size: int) -> Iterator[tuple]:
    rows = DeployAuditLine.objects.filter(
        in_window(filters, "recorded_at"), after_cursor(cursor, RANK["audit"], "recorded_at"),
        service=filters.service, destination=filters.destination,
    )  # fmt: skip
    if filters.host:
        rows = rows.filter(host=filters.host)
    if filters.role:
        rows = rows.filter(role=filters.role)
    if filters.performer:
        rows = rows.filter(performer=filters.performer)
    for line in rows_chunked(rows.order_by("-recorded_at", "-id"), size):
        yield (line.recorded_at, RANK["audit"], line.id), {
            "at": line.recorded_at, "source": "audit", "id": line.id, "kind": line.kind, "subject": line.subject,
            "host": line.host, "role": line.role, "performer": line.performer, "version": line.version,
            "text": line.text, "detail": line.detail,
        }  # fmt: skip


def _hook_events(filters: Filters, cursor: Cursor | None, size: int) -> Iterator[tuple]:
    rows = DeployHookEvent.objects.filter(
        in_window(filters, "recorded_at"), after_cursor(cursor, RANK["hook"], "recorded_at"),
        service=filters.service, destination=filters.destination,
    )  # fmt: skip
    if filters.performer:
        rows = rows.filter(performer=filters.performer)
    for event in rows_chunked(rows.order_by("-recorded_at", "-id"), size):
        # A run names the hosts and roles it was limited to (none: all of them).
        if filters.host and event.hosts and filters.host not in event.hosts:
            continue
        if filters.role and event.roles and filters.role not in event.roles:
            continue
        yield (event.recorded_at, RANK["hook"], event.id), {
            "at": event.recorded_at, "source": "hook", "id": event.id, "kind": event.hook, "subject": "",
            "host": "", "role": "", "performer": event.performer, "version": event.version,
            "text": " ".join(part for part in ("kamal", event.command, event.subcommand) if part),
            "detail": "", "hosts": event.hosts, "roles": event.roles, "lock": event.lock,
            "runtime_seconds": event.runtime_seconds,
        }  # fmt: skip


def _portal_actions(filters: Filters, cursor: Cursor | None, size: int) -> Iterator[tuple]:
    if filters.host or filters.role:
        return  # the portal's rows name containers, not Kamal hosts or roles: a narrowed timeline leaves them out
    actions = Q()
    for prefix in PORTAL_ACTIONS:
        actions |= Q(action__startswith=prefix)
    rows = AuditEvent.objects.filter(
        actions, in_window(filters, "created_at"), after_cursor(cursor, RANK["portal"], "created_at")
    )
    if filters.performer:
        rows = rows.filter(actor=filters.performer)
    for event in rows_chunked(rows.order_by("-created_at", "-id"), size):
        yield (event.created_at, RANK["portal"], event.id), {
            "at": event.created_at, "source": "portal", "id": event.id, "kind": event.action, "subject": event.outcome,
            "host": "", "role": "", "performer": event.actor, "version": "",
            "text": ", ".join(event.targets[:5]) if isinstance(event.targets, list) else "", "detail": event.detail,
        }  # fmt: skip


Reader = Callable[[Filters, "Cursor | None", int], Iterator[tuple]]


@dataclass(frozen=True)
class Source:
    """A source of entries another part of the portal adds: the alerts fired and resolved come from the alerts
    layer, which wallet ops may not import, so that layer registers its reader here when it is ready (as the
    apps register their token scopes with the API kit). ``read(filters, cursor, size)`` yields
    ``((at, rank, id), entry)`` newest first, only what comes after ``cursor`` (``after_cursor``) and within
    the filters' time (``in_window``); ``size`` is how many a page may take of it."""

    name: str  # what its entries' ``source`` says
    rank: int  # its order at one instant among the sources (high first): one rank per source
    read: Reader


_ADDED: dict[int, Source] = {}


def timeline_source_register(name: str, *, rank: int, read: Reader) -> Source:
    """Add a source to every timeline (idempotent for the same reader; a rank already taken is a bug)."""
    source = Source(name=name, rank=rank, read=read)
    known = _ADDED.get(rank)
    if rank in RANK.values() or (known is not None and known != source):
        raise ValueError(f"timeline rank {rank} is already {known or 'a built-in source'}")
    _ADDED[rank] = source
    return source


def _ranks() -> set[int]:
    return {*RANK.values(), *_ADDED}


def sources_known() -> list[str]:
    """Every source's name: the built-in ones, then those added (in the order of their rank, high first)."""
    added = [source.name for _, source in sorted(_ADDED.items(), reverse=True)]
    return list(dict.fromkeys([*RANK, *added]))


def timeline_page(filters: Filters, *, cursor: Cursor | None = None, limit: int = 50) -> tuple[list[dict], str | None]:
    """One page of the timeline, newest first, and the cursor of the next (older) page (None: the last)."""
    limit = max(1, min(limit, MAX_LIMIT))
    size = limit + 1
    readers = [_audit_lines, _hook_events, _portal_actions, *(source.read for source in _ADDED.values())]
    sources = [read(filters, cursor, size) for read in readers]
    merged = heapq.merge(*sources, key=lambda pair: pair[0], reverse=True)
    taken = []
    for key, entry in merged:
        taken.append((key, entry))
        if len(taken) == size:
            break
    for source in sources:
        source.close()
    page = taken[:limit]
    following = Cursor(*page[-1][0]).encode() if len(taken) > limit else None
    return [entry for _, entry in page], following


@dataclass(frozen=True)
class Deploy:
    version: str
    performer: str
    started_at: datetime
    finished_at: datetime
    hosts: tuple[str, ...]
    roles: tuple[str, ...]
    runtime_seconds: int | None  # from the post-deploy hook event of the same version, when one came


GAP = timedelta(minutes=30)


def deploys_recent(service: str, destination: str, *, count: int = 10, scan: int = 2000) -> list[Deploy]:
    """The latest deploys, newest first: "Booted app version V" lines of all hosts, grouped by version and
    performer while they follow each other within ``GAP``; the runtime from the hook's post-deploy event."""
    booted = DeployAuditLine.objects.filter(
        service=service, destination=destination, kind="booted", subject="app"
    ).order_by("-recorded_at", "-id")[:scan]
    groups: list[dict] = []
    for line in booted:
        last = groups[-1] if groups else None
        if (
            last
            and last["version"] == line.version
            and last["performer"] == line.performer
            and (last["started_at"] - line.recorded_at <= GAP)
        ):
            last["started_at"] = line.recorded_at
            last["hosts"].add(line.host)
            last["roles"].add(line.role)
            continue
        if len(groups) == count:
            break
        groups.append({
            "version": line.version, "performer": line.performer, "started_at": line.recorded_at,
            "finished_at": line.recorded_at, "hosts": {line.host}, "roles": {line.role},
        })  # fmt: skip
    deploys = []
    for group in groups:
        post = (
            DeployHookEvent.objects.filter(
                service=service, destination=destination, hook="post-deploy", version=group["version"],
                recorded_at__gte=group["started_at"], recorded_at__lte=group["finished_at"] + GAP,
            ).order_by("recorded_at").first()
        )  # fmt: skip
        deploys.append(
            Deploy(
                version=group["version"], performer=group["performer"], started_at=group["started_at"],
                finished_at=group["finished_at"], hosts=tuple(sorted(group["hosts"])),
                roles=tuple(sorted(role for role in group["roles"] if role)),
                runtime_seconds=post.runtime_seconds if post else None,
            )
        )  # fmt: skip
    return deploys


def deploys_report(filters: Filters, *, cursor: Cursor | None = None, limit: int = 50) -> dict:
    """What the Deploys page and ``/deploys`` show: the hosts' files read up to now, one page of the timeline,
    and, on the first page, the locks held and the latest deploys."""
    reading.audit_files_refresh(service=filters.service)
    entries, following = timeline_page(filters, cursor=cursor, limit=limit)
    report = {"results": entries, "cursor": following, "locks": [], "deploys": []}
    if cursor is None:
        now = timezone.now()
        report["locks"] = [
            {**asdict(lock), "age_seconds": lock.age_seconds(now)}
            for lock in reading.locks_held(service=filters.service)
            if lock.destination == filters.destination
        ]
        report["deploys"] = [asdict(deploy) for deploy in deploys_recent(filters.service, filters.destination)]
    return report


def deploy_in_progress(*, service: str, now: datetime, hold_max: timedelta) -> str:
    """Why a deploy is in progress now ("" when none): a Kamal lock is held, or the hook's pre-deploy event
    came and its post-deploy has not yet (Kamal releases the lock before post-deploy runs), for at most
    ``hold_max`` after the pre-deploy event (a deploy that died never sends its post-deploy)."""
    held = reading.locks_held(service=service)
    if held:
        lock = held[0]
        return f"the deploy lock is held on {lock.host} by {lock.holder or 'someone'}"
    pre = (
        DeployHookEvent.objects.filter(service=service, hook="pre-deploy", recorded_at__gte=now - hold_max)
        .order_by("-recorded_at", "-id")
        .first()
    )
    if pre is None:
        return ""
    post = DeployHookEvent.objects.filter(
        service=service, destination=pre.destination, hook="post-deploy", recorded_at__gte=pre.recorded_at
    ).exists()
    return (
        "" if post else f"{pre.performer or 'someone'} started deploying {pre.version} (pre-deploy, no post-deploy yet)"
    )
