"""Logs of several containers at once, merged by time, and live follow of one or several containers.

A line here carries its exact time (Docker's nanoseconds, as an integer): merging sorts on it, and
a live line's SSE ``id`` is that time written with nine decimals, so ``Last-Event-ID`` resumes
exactly after it. Lines are shown as ``containers.container_logs`` shows them: ANSI escapes
stripped, cut at 16 KiB, searched (``grep``) as shown.

Live follow runs in the web process's request thread: one reader thread per container blocks on
its engine's ``docker logs --follow`` and hands lines to a queue; the request thread turns them
into events, writes a heartbeat comment when nothing comes (which is also when a client that went
away is noticed, and when the engines are pinged), and ends the stream on its own limits. Streams
are counted per person and in total across every web process (``stream_lease``, leases in the
database renewed at each heartbeat) so followers never hold every thread.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import queue
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection

from opsportal.lib.timefmt import iso_utc
from walletops import containers, stream_leases
from walletops.clients import docker as engine
from walletops.containers import ANSI_ESCAPE, LINE_BYTES, MAX_LINE, Found, GrepBudget
from walletops.exceptions import ContainerNotFound, DockerUnavailable, TooManyContainers

MAX_SOURCES = 32  # containers in one merged view: each live one is a reader thread
REORDER_SECONDS = 0.25  # a merged live view holds lines this long so two engines' lines come out in time order
RESUME_TAIL = 5000  # on a resume, every line since the last one seen, up to this many (the largest tail)
QUEUE_BYTES = 4 * 1024 * 1024  # lines waiting for a slow client before the readers wait (and Docker with them)
BATCH_LINES = 1000  # lines written to the client at once, at most
REPLACED = "this stream's slot went to a newer stream of the same page, or lapsed (not renewed in time)"
CLIENT_POLL_SECONDS = 1.0  # a quiet stream asks this often whether its client went away (when the server can tell)
_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
NS = 1_000_000_000


# --- times ------------------------------------------------------------------------------------


def stamp_ns(stamp: str) -> int | None:
    """An RFC 3339 time with up to nine decimals as nanoseconds since 1970; None if it is not one."""
    match = _STAMP.match(stamp)
    if not match:
        return None
    *parts, fraction, zone = match.groups()
    try:
        moment = datetime(*map(int, parts), tzinfo=UTC)
    except ValueError:
        return None
    seconds = int(moment.timestamp())
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * NS + int((fraction or "0").ljust(9, "0"))


@functools.lru_cache(maxsize=64)
def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ns_stamp(ns: int) -> str:
    """Nanoseconds as ``2026-03-10T11:59:58.123456789Z``: an SSE ``id``, exact and sortable as text.
    (Lines come thousands a second: the date part is formatted once a second.)"""
    seconds, rest = divmod(ns, NS)
    return f"{_second_text(seconds)}.{rest:09d}Z"


def ns_datetime(ns: int) -> datetime:
    """To the microsecond below: handed to Docker as ``since``, which is inclusive, so nothing is missed."""
    return datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)


# --- one line ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    ns: int
    text: str
    cut: bool
    source: Source


@dataclass(frozen=True)
class Source:
    """A container followed or read: where it runs, and how its lines are labelled."""

    found: Found
    host: str

    @property
    def name(self) -> str:
        return self.found.name


def source_of(found: Found) -> Source:
    return Source(found=found, host=engine.host_label(found.url))


def line_parse(raw: bytes, source: Source) -> Line:
    """Docker's ``<time> <text>`` as shown: ANSI escapes stripped, cut at ``MAX_LINE`` characters."""
    if raw.endswith(b"\r"):  # a TTY ends its lines with \r\n
        raw = raw[:-1]
    stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
    cut = len(raw) - raw.find(b" ") - 1 > LINE_BYTES
    if "\x1b" in text:
        text = ANSI_ESCAPE.sub("", text)
    if len(text) > MAX_LINE:
        text, cut = text[:MAX_LINE], True
    return Line(ns=stamp_ns(stamp) or 0, text=text, cut=cut, source=source)


def matches(grep, text: str) -> bool:
    return True if grep is None else containers.grep_matches(grep, text)


def line_json(line: Line, *, timestamps: bool = True) -> dict:
    stamp = ns_stamp(line.ns)
    ts = f"{stamp[:23]}Z" if timestamps and line.ns else None  # milliseconds, as every time in the API
    # ``engine``: the Docker engine the container runs on. ``host`` says the same, deprecated (in the
    # containers list, ``host`` is the container's host name, as the wallet ops contract defines it).
    engine_label = line.source.host
    return {"id": stamp, "ts": ts, "container": line.source.name, "host": engine_label, "engine": engine_label,
            "text": line.text}  # fmt: skip


def line_event(line: Line) -> bytes:
    data = line_json(line)
    return f"id: {data['id']}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


# ``{"id":"…","ts":"…","container":"…","host":"…","engine":"…","text":"…"},`` besides its strings: id (30
# characters) and ts (24, or null) are plain ASCII, the others are counted as DRF's JSON writes them.
_LINE_JSON_OVERHEAD = len('{"id":"","ts":,"container":,"host":,"engine":,"text":},') + 30
_TS_BYTES = {True: 26, False: 4}


def _line_bytes(line: Line, *, timestamps: bool = True) -> int:
    """Bytes of ``line_json(line)`` in the merged answer's JSON, its comma included (exact, not encoded)."""
    ts = timestamps and bool(line.ns)
    return (
        _LINE_JSON_OVERHEAD
        + _TS_BYTES[ts]
        + containers._json_size(line.text)
        + containers._json_size(line.source.name)
        + 2 * containers._json_size(line.source.host)  # as host and as engine
    )


def _json_bytes(data) -> int:
    """Bytes of ``data`` as DRF's JSON writes it: compact, UTF-8, U+2028/U+2029 escaped."""
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return len(encoded) + 3 * (encoded.count("\u2028".encode()) + encoded.count("\u2029".encode()))


# --- which containers -------------------------------------------------------------------------


class Sources(list):
    """The containers a merged view reads, and ``engines_down``: the engines of its env that did not
    answer the scan (their containers of the role are missing from the view, which says so)."""

    def __init__(self, sources: Iterable[Source], *, engines_down: list[str]):
        super().__init__(sources)
        self.engines_down = engines_down


def sources_find(*, env: str, role: str | None, names: list[str] | None, include_accessories: bool) -> Sources:
    """The service's containers of ``role`` (or named in ``names``) in ``env``, on every engine of ``env``.

    Only containers the fleet scan classifies as the service's are ever returned: a foreign name is
    ``ContainerNotFound``, exactly as for one container's logs.
    """
    scan = containers.fleet_scan(envs=[env], include_accessories=include_accessories)
    chosen = [
        found
        for found in scan.found
        if (role is None or found.membership.role == role) and (names is None or found.name in names)
    ]
    unknown = sorted(set(names or []) - {found.name for found in chosen})
    down = f"; these engines did not answer: {', '.join(scan.missing_hosts)}" if scan.missing_hosts else ""
    if unknown:
        error = DockerUnavailable if scan.missing_hosts else ContainerNotFound
        raise error(f"no managed container named {', '.join(unknown)} in {env}{down}")
    if not chosen:
        what = f"of role {role}" if role else "at all"
        error = DockerUnavailable if scan.missing_hosts else ContainerNotFound
        raise error(f"no managed container {what} in {env}{down}")
    if len(chosen) > MAX_SOURCES:
        raise TooManyContainers(
            f"{len(chosen)} containers match: at most {MAX_SOURCES} are read at once (name them in containers=)"
        )
    return Sources((source_of(found) for found in chosen), engines_down=list(scan.missing_hosts))


# --- reading a range, merged ------------------------------------------------------------------


@dataclass
class _Read:
    source: Source
    kept: deque = field(default_factory=deque)
    matched: int = 0
    newest_ns: int = 0  # of any line read, matching or not: where a live follow picks up
    bytes: int = 0
    dropped: bool = False
    error: str = ""
    cut: bool = False  # the grep budget ran out before this source's last line
    searched_ns: int = 0  # the last line searched


class _Budget:
    """One byte budget shared by every source of a merged read: over it, the oldest line kept (of any
    source) goes, so memory stays within ``WALLETOPS_LOGS_MAX_BYTES`` however many containers are read."""

    def __init__(self, limit: int):
        self.limit, self.used, self.lock = limit, 0, threading.Lock()
        self.reads: list[_Read] = []

    def keep(self, read: _Read, line: Line, *, tail: int) -> None:
        size = _line_bytes(line)
        with self.lock:
            read.kept.append(line)
            read.bytes += size
            self.used += size
            while len(read.kept) > tail:
                self._drop(read)
            while self.used > self.limit:
                self._drop(min((r for r in self.reads if r.kept), key=lambda r: r.kept[0].ns))

    def _drop(self, read: _Read) -> None:
        size = _line_bytes(read.kept.popleft())
        read.bytes -= size
        self.used -= size
        read.dropped = True


def _read_source(
    source: Source, *, tail, since, until, grep, after_ns: int, budget: _Budget, grep_budget: GrepBudget | None
) -> _Read:
    read = _Read(source)
    with budget.lock:
        budget.reads.append(read)
    fetch = tail if grep is None else max(tail, containers.GREP_SCAN)
    try:
        raw_lines = engine.container_log_lines(
            source.found.url, source.found.id, tail=fetch, since=since, until=until, max_bytes=LINE_BYTES
        )
        with closing(raw_lines):  # a read the grep budget stops hangs up on the engine at once
            for raw in raw_lines:
                line = line_parse(raw, source)
                read.newest_ns = max(read.newest_ns, line.ns)
                if line.ns <= after_ns:
                    continue
                if grep is not None:
                    found = matches(grep, line.text) if grep_budget is None else grep_budget.search(grep, line.text)
                    if found is None:
                        read.cut = True
                        break
                    read.searched_ns = line.ns
                    if not found:
                        continue
                read.matched += 1
                budget.keep(read, line, tail=tail)
    except engine.EngineDown as down:
        read.error = f"engine {down.host} went away"
    except engine.ContainerGone:
        read.error = "removed"
    return read


def merged_read(
    sources: list[Source],
    *,
    tail: int,
    since,
    until,
    grep,
    after_ns: int = 0,
    grep_budget: GrepBudget | None = None,
) -> tuple[list[Line], dict[Source, _Read]]:
    """The last ``tail`` matching lines of all ``sources`` together, oldest first, within the byte cap.

    With ``grep``, every source charges ``grep_budget`` (one for them all) for each line it searches,
    and stops where it runs out (``_Read.cut``).
    """
    max_bytes = settings.WALLETOPS_LOGS_MAX_BYTES - 1024
    budget = _Budget(max_bytes)

    def read(source: Source) -> _Read:
        return _read_source(source, tail=tail, since=since, until=until, grep=grep, after_ns=after_ns,
                            budget=budget, grep_budget=grep_budget)  # fmt: skip

    # With grep, the readers search at the lowest CPU priority (threads of this call only: see scan_thread_init).
    initializer = containers.scan_thread_init if grep is not None else None
    with ThreadPoolExecutor(min(len(sources), 8), initializer=initializer) as pool:
        reads = dict(zip(sources, pool.map(read, sources), strict=True))
    merged = list(heapq.merge(*(r.kept for r in reads.values()), key=lambda line: line.ns))
    kept: list[Line] = []
    size = 0
    for line in reversed(merged[-tail:] if tail else []):
        size += _line_bytes(line)
        if size > max_bytes:
            break
        kept.append(line)
    kept.reverse()
    return kept, reads


def merged_cut_short(grep_budget: GrepBudget | None, reads: dict[Source, _Read]) -> dict | None:
    """``cut_short`` of a merged read: searched up to the earliest line where a source stopped."""
    if grep_budget is None or not grep_budget.spent:
        return None
    stopped = [read.searched_ns for read in reads.values() if read.cut and read.searched_ns]
    return grep_budget.cut_short(ns_stamp(min(stopped)) if stopped else None)


def merged_logs(
    sources: list[Source],
    *,
    env: str,
    tail: int,
    since,
    until,
    grep,
    timestamps: bool = True,
    client_gone: Callable[[], bool] | None = None,
) -> dict:
    """The merged view's JSON: lines labelled with container and host, counts per container, and
    ``cut_short`` when ``grep`` spent its budget; the whole within ``WALLETOPS_LOGS_MAX_BYTES`` of JSON."""
    grep_budget = GrepBudget.from_settings(client_gone=client_gone) if grep is not None else None
    lines, reads = merged_read(sources, tail=tail, since=since, until=until, grep=grep, grep_budget=grep_budget)
    if all(read.error for read in reads.values()):
        raise DockerUnavailable("; ".join(f"{s.name}: {r.error}" for s, r in reads.items()))
    cut_short = merged_cut_short(grep_budget, reads)

    def answer(lines: list[Line]) -> dict:
        shown = Counter(line.source for line in lines)
        return {
            "env": env,
            "containers": [
                {
                    "name": source.name,
                    "host": source.host,
                    "engine": source.host,
                    "role": source.found.membership.role,
                    "matched": read.matched,
                    "shown": shown[source],
                    "error": read.error,
                }
                for source, read in reads.items()
            ],
            "lines": lines,
            "truncated": any(r.dropped for r in reads.values())
            or sum(r.matched for r in reads.values()) > len(lines)
            or any(line.cut for line in lines)
            or cut_short is not None,
            "cut_short": cut_short,
        }

    # The cap holds the whole answer: the envelope (counts, errors, cut_short) as it is now (dropping
    # lines only shrinks it), then the newest lines as their JSON takes them.
    room = settings.WALLETOPS_LOGS_MAX_BYTES - _json_bytes({**answer(lines), "lines": [], "truncated": False})
    kept = len(lines)
    size = sum(_line_bytes(line, timestamps=timestamps) for line in lines)
    while kept and size > room:
        size -= _line_bytes(lines[len(lines) - kept], timestamps=timestamps)
        kept -= 1
    fitting = lines[len(lines) - kept :]
    result = answer(fitting)
    result["truncated"] = result["truncated"] or len(fitting) < len(lines)
    result["lines"] = [line_json(line, timestamps=timestamps) for line in fitting]
    return result


def lines_text(lines: Iterable[dict], *, labelled: bool) -> str:
    """What the page shows, as plain text: ``<time> <container> <text>`` a line (the Download)."""
    rows = []
    for line in lines:
        parts = [line["ts"]] if line.get("ts") else []
        if labelled:
            parts.append(f"[{line['container']}@{line['host']}]")
        rows.append(" ".join([*parts, line["text"]]))
    return "".join(row + "\n" for row in rows)


# --- stream caps ------------------------------------------------------------------------------


class StreamLease:
    """One open stream's slot (``stream_leases``: counted in the database, across every web process),
    until ``release()`` (idempotent: a response's close may come twice)."""

    def __init__(self, lease_id: int):
        self.lease_id, self.released = lease_id, False

    def renew(self) -> bool:
        """At each heartbeat: False when the slot is gone (a newer stream of the same page took it, or it lapsed)."""
        try:
            return stream_leases.lease_renew(self.lease_id)
        except DatabaseError:  # unreachable for a moment: the lease lasts LEASE_BEATS heartbeats, asked again next
            return True
        finally:
            _database_given_back()

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        with suppress(DatabaseError):  # unreachable: the lease lapses by itself within LEASE_BEATS heartbeats
            stream_leases.lease_release(self.lease_id)


def stream_lease(*, key: str, page: str = "") -> StreamLease:
    """A slot for one more live stream of ``key`` (``stream_leases.stream_key``), or ``LogStreamsFull``.

    Counted across every web process: the total keeps each process's streams below its threads
    (``WEB_THREADS``; settings refuse a total that would leave none for other requests).
    """
    return StreamLease(stream_leases.lease_take(key=key, page=page))


def streams_open() -> int:
    return stream_leases.leases_open()


def _database_given_back() -> None:
    """A stream's thread holds no database connection between its heartbeats (a test's transaction keeps its own)."""
    if not connection.in_atomic_block:
        connection.close()


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


# --- live follow ------------------------------------------------------------------------------


def sse(*, data: dict, event: str | None = None, id: str | None = None) -> bytes:  # noqa: A002 (the SSE field)
    head = (f"event: {event}\n" if event else "") + (f"id: {id}\n" if id else "")
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def last_event_ns(value: str | None) -> int | None:
    """A ``Last-Event-ID`` (a line's time) as nanoseconds; None when absent or not one of ours."""
    return stamp_ns(value.strip()) if value else None


class LogFollowStream:
    """The body of a ``text/event-stream`` response: the backlog, then lines as they are written.

    Iterated by the WSGI server in the request's thread; ``close()`` (called by the server when the
    response ends, the client having gone or not) stops the readers and releases the lease.
    Events: a line (``id`` = its time, ``data`` = ``{ts, container, host, text}``); ``source_end``
    when one container's stream ends (``stopped``, ``removed``, ``engine_down``, ``error``: its
    reader failed, the detail says how); ``engine_down`` naming the engine; ``cut_short`` when
    ``grep`` spent its budget on the backlog or on a batch (the lines it did not search are counted);
    and a last ``end`` with
    its ``reason`` (``stopped``, ``removed``, ``engine_down``, ``error``, ``idle``, ``max_duration``,
    ``access_revoked``, ``replaced``: its slot went to its page's newer stream, or lapsed).
    """

    def __init__(
        self,
        sources: list[Source],
        *,
        tail: int,
        since,
        grep,
        after_ns: int | None,
        lease: StreamLease,
        access_refusal: Callable[[], str] | None = None,
        client_gone: Callable[[], bool] | None = None,
    ):
        self.sources, self.tail, self.since, self.grep = sources, tail, since, grep
        # Asked between batches (at most every CLIENT_CHECK_S): a client that went away ends the stream
        # (and its readers) now, not at the next heartbeat's failed write.
        self.client_gone = client_gone
        self.next_client_check = 0.0
        # The readers grep each line within the current batch's budget; the request thread, taking a
        # batch, gives them a fresh one and says what the last one left unsearched (``skipped``).
        self.batch_budget = self._grep_budget()
        self.skipped, self.skipped_reason = 0, ""
        self.skipped_lock = threading.Lock()
        # Asked again at each heartbeat: a stream outlives no revoked token, deactivated user, lost right.
        self.access_refusal = access_refusal
        self.after_ns = after_ns or 0
        self.lease = lease
        self.queue: queue.Queue = queue.Queue()  # bounded in bytes (``queued``), not in lines
        self.queued = 0
        self.queued_room = threading.Condition()
        self.stopped = threading.Event()
        self.follows: list[engine.LogFollow] = []
        self.follows_lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.ended: dict[Source, tuple[str, str | None]] = {}
        self.heartbeat = settings.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS
        self.idle = settings.WALLETOPS_LOG_STREAM_IDLE_SECONDS
        self.max_duration = settings.WALLETOPS_LOG_STREAM_MAX_SECONDS
        self._iterator = self._events()

    def __iter__(self) -> Iterator[bytes]:
        return self._iterator

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        # The slot first: closing a follow can block (an ssh:// engine's pipe), and a slot held by a
        # response that is already gone would count against its user until the process restarts.
        self.lease.release()
        _database_given_back()
        try:
            self._readers_stop()
        finally:
            self._iterator.close()

    def _readers_stop(self) -> None:
        self.stopped.set()
        with self.follows_lock:
            follows = list(self.follows)
        for follow in follows:
            with suppress(Exception):
                follow.close()

    # Readers: one thread per container.

    def _put(self, item) -> None:
        size = _line_bytes(item[2]) if item[0] == "line" else 0
        with self.queued_room:
            # A line always fits an empty queue; past QUEUE_BYTES the reader waits for the client.
            while self.queued and self.queued + size > QUEUE_BYTES:
                if self.stopped.is_set():
                    return
                self.queued_room.wait(0.5)
            self.queued += size
        self.queue.put(item)

    def _taken(self, items: list) -> None:
        size = sum(_line_bytes(value) for kind, _, value in items if kind == "line")
        if size:
            with self.queued_room:
                self.queued -= size
                self.queued_room.notify_all()

    def _read(self, source: Source, since_ns: int | None) -> None:
        if self.grep is not None:
            containers.scan_thread_init()  # this thread's own: it greps every line, and ends with the stream
        skip_to_ns = since_ns or 0
        try:
            follow = engine.LogFollow(
                source.found.url,
                source.found.id,
                since=ns_datetime(since_ns) if since_ns else None,
                tail="all" if since_ns else 0,
                max_bytes=LINE_BYTES,
            )
        except engine.EngineDown as down:
            return self._put(("down", source, down.host))
        except engine.ContainerGone:
            return self._put(("end", source, "removed"))
        except Exception as exc:  # a Docker 4xx other than 404, anything: said in an event, not a silent thread
            return self._put(("error", source, _error_text(exc)))
        with self.follows_lock:
            self.follows.append(follow)
        if self.stopped.is_set():
            follow.close()
            return None
        try:
            for raw in follow.lines():
                line = line_parse(raw, source)
                if line.ns > skip_to_ns:
                    budget = self.batch_budget
                    found = matches(self.grep, line.text) if budget is None else budget.search(self.grep, line.text)
                    if found is None:  # this batch's budget is spent: counted, said in a cut_short event
                        with self.skipped_lock:
                            self.skipped, self.skipped_reason = self.skipped + 1, budget.reason
                    elif found:
                        self._put(("line", source, line))
                if self.stopped.is_set():
                    return None
        except engine.EngineDown as down:
            return self._put(("down", source, down.host))
        except Exception as exc:
            return self._put(("error", source, _error_text(exc)))
        finally:
            follow.close()
        return self._put(("eof", source, None))

    def _why_ended(self, source: Source) -> tuple[str, str | None]:
        """After a container's stream ended: ``stopped``, ``removed``, ``restarted`` or ``engine_down``."""
        try:
            inspect = engine.container_inspect(source.found.url, source.found.id)
        except engine.ContainerGone:
            return "removed", None
        except engine.EngineDown as down:
            return "engine_down", down.host
        state = inspect.get("State") or {}
        if state.get("Running"):
            return "restarted", None
        return "stopped", None

    # The request thread.

    def _events(self) -> Iterator[bytes]:
        yield f"retry: 3000\n: following {len(self.sources)} container(s)\n\n".encode()
        for host in getattr(self.sources, "engines_down", []):  # a merged view's engines that did not answer
            detail = f"Docker engine {host} did not answer: its containers are not followed"
            yield sse(event="engine_down", data={"engine": host, "containers": [], "detail": detail})
        started = time.monotonic()
        backlog_tail = self.tail if self.after_ns == 0 else RESUME_TAIL
        since = self.since
        if self.after_ns:
            since = ns_datetime(self.after_ns)
        grep_budget = self._grep_budget()
        lines, reads = merged_read(
            self.sources, tail=backlog_tail, since=since, until=None, grep=self.grep, after_ns=self.after_ns,
            grep_budget=grep_budget,
        )  # fmt: skip
        if lines:
            yield b"".join(line_event(line) for line in lines)
        if grep_budget is not None and grep_budget.reason == "client_gone":
            return  # no reader started yet
        if cut_short := merged_cut_short(grep_budget, reads):
            yield sse(event="cut_short", data={**cut_short, "backlog": True})
        active = set()
        for source in self.sources:
            read = reads[source]
            if read.error:
                yield from self._source_end(source, "engine_down" if "engine" in read.error else "removed", read.error)
                continue
            # From the newest line read (Docker's ``since`` is inclusive: that line is skipped), or, when
            # none was, from now as the engine sees it (``tail=0``: no clock of ours involved).
            since_ns = max(read.newest_ns, self.after_ns) or None
            thread = threading.Thread(
                target=self._read, args=(source, since_ns), daemon=True, name=f"logs-follow-{source.name}"
            )
            thread.start()
            self.threads.append(thread)
            active.add(source)
        window = REORDER_SECONDS if len(self.sources) > 1 else 0.0
        pending: list = []  # heap of (ns, seq, arrival, line)
        seq = itertools.count()
        last_line = last_beat = time.monotonic()
        while True:
            now = time.monotonic()
            deadlines = [last_beat + self.heartbeat, last_line + self.idle, started + self.max_duration]
            if pending:
                deadlines.append(pending[0][2] + window)
            if self.client_gone is not None:
                deadlines.append(now + CLIENT_POLL_SECONDS)
            wait = max(0.0, min(deadlines) - now)
            item = None
            if active:
                with suppress(queue.Empty):
                    item = self.queue.get(timeout=wait)
            else:
                time.sleep(min(wait, window))
            now = time.monotonic()
            # What else is waiting is taken too, and written in one piece: one write per batch, not per line.
            items = [item] if item is not None else []
            while item is not None and len(items) < BATCH_LINES:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
            self._taken(items)
            grep_budget, self.batch_budget = self.batch_budget, self._grep_budget()
            with self.skipped_lock:
                skipped, self.skipped = self.skipped, 0
                skipped_reason = self.skipped_reason
            for kind, source, value in items:
                if kind == "line":
                    last_line = now
                    heapq.heappush(pending, (value.ns, next(seq), now, value))
                else:
                    active.discard(source)
                    for event in self._ended(source, kind, value):
                        yield event
            if (grep_budget is not None and grep_budget.reason == "client_gone") or self._client_went(now):
                self._readers_stop()  # now, not when the server gets round to closing the response
                return
            if skipped:
                yield self._cut_short_event(skipped_reason, skipped)
            ready = []
            while pending and (pending[0][2] + window <= now or not active):
                ready.append(line_event(heapq.heappop(pending)[3]))
            if ready:
                yield b"".join(ready)
            if not active and not pending:
                yield self._end()
                return
            if now - last_line >= self.idle:
                yield sse(event="end", data={"reason": "idle", "detail": f"no line for {self.idle} s"})
                return
            if now - started >= self.max_duration:
                detail = f"streams last at most {self.max_duration} s: reconnect with Last-Event-ID to go on"
                yield sse(event="end", data={"reason": "max_duration", "detail": detail})
                return
            if now - last_beat >= self.heartbeat:
                if not self.lease.renew():
                    yield sse(event="end", data={"reason": "replaced", "detail": REPLACED})
                    return
                if refusal := self._access_refused():
                    yield sse(event="end", data={"reason": "access_revoked", "detail": refusal})
                    return
                for source, host in self._engines_down(active):
                    active.discard(source)
                    for event in self._ended(source, "down", host):
                        yield event
                yield f": heartbeat {iso_utc(datetime.now(tz=UTC))}\n\n".encode()
                last_beat = now

    def _grep_budget(self) -> GrepBudget | None:
        return GrepBudget.from_settings(client_gone=self.client_gone) if self.grep is not None else None

    def _client_went(self, now: float) -> bool:
        if self.client_gone is None or now < self.next_client_check:
            return False
        self.next_client_check = now + GrepBudget.CLIENT_CHECK_S
        return self.client_gone()

    @staticmethod
    def _cut_short_event(reason: str, skipped: int) -> bytes:
        """A batch whose grep spent its budget: the lines left unsearched are said, not silently lost."""
        cut_short = containers.cut_short_answer(reason, None)
        detail = f"{cut_short['detail']}: {skipped} line(s) of this batch were not searched"
        return sse(event="cut_short", data={**cut_short, "detail": detail, "skipped": skipped, "backlog": False})

    def _access_refused(self) -> str:
        if self.access_refusal is None:
            return ""
        try:
            return self.access_refusal()
        except Exception:  # the database unreachable for a moment: the stream goes on, asked again next beat
            return ""

    def _engines_down(self, active: set[Source]) -> list[tuple[Source, str]]:
        """Each active container whose engine does not answer a ping: a remote engine that vanished
        without closing its connections (a host powered off) would otherwise keep its reader waiting."""
        down = []
        for url in {source.found.url for source in active}:
            try:
                engine.engine_ping(url)
            except engine.EngineDown as error:
                down += [(source, error.host) for source in active if source.found.url == url]
        for source, _ in down:
            with self.follows_lock:
                for follow in self.follows:
                    if follow.url == source.found.url:
                        follow.close()
        return down

    def _ended(self, source: Source, kind: str, value) -> Iterator[bytes]:
        if kind == "down":
            reason, host = "engine_down", value
        elif kind == "error":
            yield from self._source_end(source, "error", f"reading {source.name}'s log failed: {value}")
            return
        elif kind == "end":
            reason, host = value, None
        else:
            reason, host = self._why_ended(source)
        detail = {
            "stopped": f"{source.name} stopped",
            "removed": f"{source.name} was removed",
            "restarted": f"{source.name}'s log stream closed (it restarted): reconnect to go on",
            "engine_down": f"Docker engine {host} went away",
        }[reason]
        if reason == "engine_down" and not any(r == "engine_down" and h == host for r, h in self.ended.values()):
            containers_there = [s.name for s in self.sources if engine.host_label(s.found.url) == host]
            yield sse(event="engine_down", data={"engine": host, "containers": containers_there, "detail": detail})
        yield from self._source_end(source, reason, detail, host)

    def _source_end(self, source: Source, reason: str, detail: str, host: str | None = None) -> Iterator[bytes]:
        self.ended[source] = (reason, host)
        data = {"container": source.name, "host": source.host, "engine": source.host, "reason": reason,
                "detail": detail}  # fmt: skip
        yield sse(event="source_end", data=data)

    def _end(self) -> bytes:
        reasons = {reason for reason, _ in self.ended.values()}
        reason = reasons.pop() if len(reasons) == 1 else "ended"
        engines = sorted({host for r, host in self.ended.values() if r == "engine_down" and host})
        names = ", ".join(source.name for source in self.ended)
        detail = {
            "stopped": f"{names} stopped",
            "removed": f"{names} removed",
            "engine_down": f"Docker engine {', '.join(engines)} went away",
            "error": f"reading the log of {names} failed",
        }.get(reason, f"every stream ended ({names})")
        data = {"reason": reason, "detail": detail}
        if engines:
            data["engines"] = engines
        return sse(event="end", data=data)
