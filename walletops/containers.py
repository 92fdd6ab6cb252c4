"""Reads about the service's containers: list, one container, its logs, its health check.

Engines are asked in parallel, and per-container calls (inspect, stats) in
parallel too: an inspect costs a round trip and a stats sample about a second.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from opsportal.lib.timefmt import iso_utc
from walletops import fleet
from walletops.clients import docker as engine
from walletops.exceptions import ContainerNotFound, ContainerNotRunning, DockerUnavailable

POOL_SIZE = 8  # inspects in flight at once per engine
STATS_POOL_SIZE = 64  # stats samples in flight at once: each mostly waits on the engine
HEX = re.compile(r"^[0-9a-f]{7,40}$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
MAX_LINE = 16 * 1024
LINE_BYTES = 4 * MAX_LINE  # bytes of a line's text read from the engine: MAX_LINE characters of any UTF-8


@dataclass(frozen=True)
class Found:
    url: str
    id: str
    name: str
    membership: fleet.Membership
    running: bool = False


@dataclass
class Scan:
    found: list[Found]
    missing_hosts: list[str]


def _parallel(func, items, workers: int = POOL_SIZE):
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(func, items))


def fleet_scan(*, envs: list[str], include_accessories: bool) -> Scan:
    """The service's containers on every engine of ``envs``; engines that fail are listed, not fatal."""
    engines = fleet.engines_for(envs)

    def scan(url: str):
        try:
            return url, engine.containers_with_label(url, "service"), None
        except engine.EngineDown as down:
            return url, [], down.host

    found, missing = [], []
    for url, summaries, down in _parallel(scan, engines):
        if down:
            missing.append(down)
            continue
        for summary in summaries:
            membership = fleet.classify(
                summary.get("Labels") or {},
                service=settings.WALLETOPS_SERVICE,
                envs=engines[url],
                accessories=settings.WALLETOPS_ACCESSORIES,
            )
            if membership is None or (membership.accessory and not include_accessories):
                continue
            name = (summary.get("Names") or ["/"])[0].lstrip("/")
            running = summary.get("State") == "running"
            found.append(Found(url=url, id=summary["Id"], name=name, membership=membership, running=running))
    found.sort(key=lambda f: (f.membership.env, f.membership.accessory, f.name))
    if missing and not found and len(missing) == len(engines):
        raise DockerUnavailable(f"no Docker engine answered: {', '.join(missing)}")
    return Scan(found=found, missing_hosts=missing)


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _iso(value: str | None) -> str | None:
    """Docker's RFC 3339 time (nanoseconds) as ISO-8601 UTC with milliseconds; None for "never"."""
    match = _RFC3339.match(value or "")
    if not match or value.startswith("0001-01-01"):
        return None
    seconds, fraction, zone = match.groups()
    return iso_utc(datetime.fromisoformat(f"{seconds}.{(fraction or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}"))


def _env(inspect: dict) -> dict[str, str]:
    pairs = (item.partition("=") for item in (inspect.get("Config") or {}).get("Env") or [])
    return {key: value for key, _, value in pairs}


def _version(labels: dict, env: dict, image: str) -> str:
    if labels.get("version"):
        return labels["version"]
    if env.get("KAMAL_VERSION"):
        return env["KAMAL_VERSION"]
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


def _commit(labels: dict, env: dict, version: str) -> str:
    for value in (labels.get("org.opencontainers.image.revision"), env.get("GIT_SHA"), env.get("COMMIT_SHA")):
        if value:
            return value
    return version if HEX.match(version or "") else ""


def _ports(inspect: dict) -> list[str]:
    bindings = ((inspect.get("NetworkSettings") or {}).get("Ports")) or {}
    return sorted(
        f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}"  # noqa: S104 (display only)
        for published in bindings.values()
        if published
        for binding in published
    )


def cpu_mem_percent(stats: dict) -> tuple[float | None, float | None]:
    """``docker stats``'s formulas: CPU share of the host's CPUs, memory without inactive file cache."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = round(cpu_delta / system_delta * online * 100, 2) if system_delta > 0 and cpu_delta >= 0 else 0.0
    memory = stats.get("memory_stats") or {}
    limit = memory.get("limit") or 0
    if not limit or "usage" not in memory:
        return cpu_pct, None
    details = memory.get("stats") or {}
    inactive = details.get("inactive_file", details.get("total_inactive_file", 0))
    return cpu_pct, round(max(memory["usage"] - inactive, 0) / limit * 100, 2)


def container_view(found: Found, inspect: dict, stats: dict | None = None, *, with_stats: bool = False) -> dict:
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    labels = config.get("Labels") or {}
    env = _env(inspect)
    image = config.get("Image") or ""
    version = _version(labels, env, image)
    view = {
        "id": inspect["Id"][:12],
        "name": found.name,
        "env": found.membership.env,
        "role": found.membership.role,
        "accessory": found.membership.accessory,
        "status": state.get("Status") or "unknown",
        "health": ((state.get("Health") or {}).get("Status")) or "none",
        "version": version,
        "commit_sha": _commit(labels, env, version),
        "restarts": inspect.get("RestartCount", 0),
        "host": config.get("Hostname") or "",
        "created_at": _iso(inspect.get("Created")),
        "started_at": _iso(state.get("StartedAt")),
        "image": image,
        "ports": _ports(inspect),
    }
    if with_stats:
        cpu, mem = cpu_mem_percent(stats) if stats and state.get("Running") else (None, None)
        view["cpu_pct"], view["mem_pct"] = cpu, mem
    return view


def _inspect(found: Found) -> dict | None:
    try:
        return engine.container_inspect(found.url, found.id)
    except engine.ContainerGone:
        return None  # removed between the list and the inspect


def _stats(found: Found) -> tuple[dict | None, str | None]:
    """A sample; or None, with the engine's name when the engine went away or stalled mid-sample."""
    try:
        return engine.container_stats(found.url, found.id), None
    except engine.ContainerGone:
        return None, None  # a container that stops mid-sample: no figures
    except engine.EngineDown as down:
        return None, down.host  # no figures, and the answer names the engine (X-Docker-Unavailable)


def stats_samples(found: list[Found]) -> tuple[dict[str, dict], list[str]]:
    """One ``docker stats --no-stream`` sample per running container, by id, all at once,
    and the engines that went away mid-sample.

    The engine spends one to two seconds per sample (two counter readings a second
    apart); asked in parallel, the whole fleet costs about one sample. (Instant
    ``one-shot`` readings were tried: this engine answers them once a second too.)
    """
    running = [f for f in found if f.running]
    if not running:
        return {}, []
    with ThreadPoolExecutor(min(STATS_POOL_SIZE, len(running))) as pool:
        results = list(pool.map(_stats, running))
    samples = {container.id: sample for container, (sample, _) in zip(running, results, strict=True) if sample}
    return samples, list(dict.fromkeys(host for _, host in results if host))


def _inspect_engine(found: list[Found]) -> tuple[list[dict | None], str | None]:
    """Inspect one engine's containers, ``POOL_SIZE`` at a time: a remote engine (tcp, ssh)
    costs a round trip per call. (On a local socket it makes no measurable difference.)
    An engine that goes away between the list and the inspects gives no views, and its name."""
    try:
        return _parallel(_inspect, found, workers=POOL_SIZE), None
    except engine.EngineDown as down:
        return [None] * len(found), down.host


def _inspect_all(found: list[Found]) -> tuple[dict[str, dict | None], list[str]]:
    """Each container's inspect by id (None: removed since the list, or its engine went away), engines side
    by side, and the engines that went away between the list and the inspects."""
    by_engine: dict[str, list[Found]] = {}
    for item in found:
        by_engine.setdefault(item.url, []).append(item)
    inspected: dict[str, dict | None] = {}
    missing: list[str] = []
    for group, (inspects, down) in zip(by_engine.values(), _parallel(_inspect_engine, by_engine.values()), strict=True):
        inspected.update(zip((item.id for item in group), inspects, strict=True))
        missing += [down] if down else []
    return inspected, missing


def containers_list(*, envs: list[str], include_accessories: bool, include_stats: bool) -> tuple[list[dict], list[str]]:
    """Every managed container's view: engines side by side, stats sampled beside the inspects."""
    scan = fleet_scan(envs=envs, include_accessories=include_accessories)
    if not scan.found:
        return [], scan.missing_hosts
    with ThreadPoolExecutor(1) as sampler:
        sampling = sampler.submit(stats_samples, scan.found) if include_stats else None
        inspected, gone = _inspect_all(scan.found)
        missing = [*scan.missing_hosts, *gone]
        samples, stats_down = sampling.result() if sampling else ({}, [])
    missing = list(dict.fromkeys([*missing, *stats_down]))
    views = [
        container_view(found, inspected[found.id], samples.get(found.id), with_stats=include_stats)
        for found in scan.found
        if inspected[found.id] is not None
    ]
    if not views and len(missing) == len(fleet.engines_for(envs)):
        raise DockerUnavailable(f"no Docker engine answered: {', '.join(missing)}")
    return views, missing


def engine_host(url: str) -> str:
    """An engine's name in messages and alert targets (its URL, never a password): as ``missing`` lists it."""
    return engine.host_label(url)


def engine_hosts(envs: list[str]) -> list[str]:
    """The names of the engines of ``envs``, each once."""
    return [engine_host(url) for url in fleet.engines_for(envs)]


@dataclass(frozen=True)
class Seen:
    """A managed container as its engine answered now: which engine, and its view."""

    found: Found
    engine_host: str
    view: dict


def containers_seen(*, envs: list[str], include_accessories: bool) -> tuple[list[Seen], list[str]]:
    """Every managed container its engine answered for, and the engines that did not answer (by
    ``engine_host``): never an error, even when no engine answers (then every engine is listed)."""
    try:
        scan = fleet_scan(envs=envs, include_accessories=include_accessories)
    except DockerUnavailable:
        return [], engine_hosts(envs)
    inspected, gone = _inspect_all(scan.found)
    seen = [
        Seen(found=item, engine_host=engine_host(item.url), view=container_view(item, inspected[item.id]))
        for item in scan.found
        if inspected[item.id] is not None
    ]
    return seen, list(dict.fromkeys([*scan.missing_hosts, *gone]))


@contextmanager
def _engine_answers():
    """An engine that goes away after its container was found is 503 ``docker_unavailable``, not a 500."""
    try:
        yield
    except engine.EngineDown as down:
        raise DockerUnavailable(str(down)) from None


def container_find(*, name: str, envs: list[str], include_accessories: bool) -> Found:
    scan = fleet_scan(envs=envs, include_accessories=include_accessories)
    for found in scan.found:
        if found.name == name:
            return found
    if scan.missing_hosts:
        raise DockerUnavailable(f"{name} not found, and these engines did not answer: {', '.join(scan.missing_hosts)}")
    raise ContainerNotFound(f"no managed container named {name} in {', '.join(envs)}")


def container_detail(found: Found) -> dict:
    with _engine_answers():
        inspect = _inspect(found)
    if inspect is None:
        raise ContainerNotFound(f"{found.name} disappeared")
    config, host_config = inspect.get("Config") or {}, inspect.get("HostConfig") or {}
    health = (inspect.get("State") or {}).get("Health") or {}
    return {
        **container_view(found, inspect),
        "labels": config.get("Labels") or {},
        "restart_policy": (host_config.get("RestartPolicy") or {}).get("Name") or "no",
        "mounts": [
            {"type": m.get("Type"), "source": m.get("Source"), "destination": m.get("Destination"), "rw": m.get("RW")}
            for m in inspect.get("Mounts") or []
        ],
        "health_log": [
            {
                "start": _iso(p.get("Start")),
                "end": _iso(p.get("End")),
                "exit_code": p.get("ExitCode"),
                "output": (p.get("Output") or "")[:4096],
            }
            for p in health.get("Log") or []
        ],
    }


GREP_SCAN = 5000  # with ``grep``, this many recent lines are searched for the last ``tail`` matches
JSON_PLAIN_BYTES = bytes(b for b in range(256) if b >= 0x20 and b not in b'"\\')
JSON_SHORT_ESCAPES = [bytes([b]) for b in b'"\\\b\f\n\r\t']  # written \" \\ \b \f \n \r \t; other controls \u00XX
# A JSON line is ``{"ts":"2026-03-10T11:59:58.123Z","text":…},``: 42 bytes besides its text, 20 with ts null.
LINE_JSON_OVERHEAD = {True: len('{"ts":"2026-03-10T11:59:58.123Z","text":},'), False: len('{"ts":null,"text":},')}


def _json_size(text: str) -> int:
    """Bytes of ``text`` in DRF's JSON, quotes included: UTF-8 as is, but ``"`` ``\\`` and controls escaped
    (``\\n`` or ``\\u001b``), and U+2028/U+2029 too (3 bytes more each). Counted, not encoded: 2x faster."""
    data = text.encode()
    size = len(data) + 2
    special = data.translate(None, JSON_PLAIN_BYTES)
    if special:
        size += 5 * len(special) - 4 * sum(special.count(byte) for byte in JSON_SHORT_ESCAPES)
    if not text.isascii():
        size += 3 * (data.count("\u2028".encode()) + data.count("\u2029".encode()))
    return size


SCAN_NICE = 19  # a logs search's threads: the lowest CPU priority, so other requests go first
SCAN_THREADS = 8  # single-container searches at once in a web process; more wait their turn


def scan_thread_init() -> None:
    """Give this thread the lowest CPU priority: a search (RE2 runs without the GIL) competes for the
    cores with the requests of every worker, and loses. Linux sets a thread's own nice value this way;
    it cannot be raised again without privilege, so only threads that do nothing else call it."""
    with suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SCAN_NICE)


_scan_pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="logs-scan", initializer=scan_thread_init)


def grep_matches(grep, text: str) -> bool:
    """``grep`` (a substring, or a compiled pattern: anything with ``search``) found in ``text``."""
    return grep in text if isinstance(grep, str) else grep.search(text) is not None


class GrepBudget:
    """What one request's ``grep`` may spend before it answers: characters searched and time searching.

    Shared by every container a request reads (a merged view's readers search from their threads, and
    their times add up), and given afresh to each batch of a live follow. The time counted is the
    searches' own, not the engine's reading: a slow engine is not the pattern's cost, and its reads have
    their own timeout. A pattern's cost per character is bounded at parse time (``params.grep_pattern``),
    so one line costs tens of milliseconds at worst: checking between lines keeps the overshoot to one
    line. ``client_gone`` (asked at most every ``CLIENT_CHECK_S``) stops the work nobody waits for.
    """

    CLIENT_CHECK_S = 0.1

    def __init__(self, *, max_chars: int, max_seconds: float, client_gone: Callable[[], bool] | None = None):
        self.max_chars, self.max_seconds, self.client_gone = max_chars, max_seconds, client_gone
        self.next_client_check = time.monotonic() + self.CLIENT_CHECK_S
        self.chars = 0
        self.searching = 0.0  # seconds spent in searches
        self.reason = ""  # why it was spent: grep_time_budget, grep_byte_budget or client_gone
        self.lock = threading.Lock()

    @classmethod
    def from_settings(cls, *, client_gone: Callable[[], bool] | None = None) -> GrepBudget:
        return cls(
            max_chars=settings.WALLETOPS_LOGS_GREP_MAX_CHARS,
            max_seconds=settings.WALLETOPS_LOGS_GREP_MAX_MS / 1000,
            client_gone=client_gone,
        )

    def charge(self, chars: int) -> bool:
        """Count a line about to be searched: False (and ``reason`` set) once the budget is spent."""
        with self.lock:
            if self.reason:
                return False
            now = time.monotonic()
            self.chars += chars
            if self.chars > self.max_chars:
                self.reason = "grep_byte_budget"
            elif self.searching >= self.max_seconds:
                self.reason = "grep_time_budget"
            elif self.client_gone is not None and now >= self.next_client_check:
                self.next_client_check = now + self.CLIENT_CHECK_S
                if self.client_gone():
                    self.reason = "client_gone"
            return not self.reason

    def search(self, grep, text: str) -> bool | None:
        """Whether ``grep`` is found in ``text``, its time counted; None, unsearched, once the budget is spent."""
        if not self.charge(len(text)):
            return None
        started = time.monotonic()
        try:
            return grep_matches(grep, text)
        finally:
            elapsed = time.monotonic() - started
            with self.lock:
                self.searching += elapsed

    @property
    def spent(self) -> bool:
        return bool(self.reason)

    def cut_short(self, searched_until: str | None) -> dict | None:
        """The answer's ``cut_short``: None while the budget held, else why and where the search stopped."""
        return cut_short_answer(self.reason, searched_until) if self.reason else None


def cut_short_answer(reason: str, searched_until: str | None) -> dict:
    """``{reason, detail, searched_until}``: which budget a search spent, naming its setting, and where it stopped."""
    detail = {
        "grep_time_budget": f"grep stopped after {settings.WALLETOPS_LOGS_GREP_MAX_MS} ms of searching "
        "(WALLETOPS_LOGS_GREP_MAX_MS)",
        "grep_byte_budget": f"grep stopped after {settings.WALLETOPS_LOGS_GREP_MAX_CHARS:,} characters searched "
        "(WALLETOPS_LOGS_GREP_MAX_CHARS)",
        "client_gone": "the client went away",
    }[reason]
    if searched_until:
        detail += f": lines after {searched_until} were not searched (ask again with since={searched_until})"
    return {"reason": reason, "detail": detail, "searched_until": searched_until}


def collect_log_lines(
    raw_lines: Iterable[bytes],
    *,
    tail: int,
    grep,
    timestamps: bool = True,
    max_bytes: int,
    budget: GrepBudget | None = None,
    cut_room: int = 0,
) -> tuple[list[dict], bool, str | None]:
    """The last ``tail`` lines that match ``grep`` and fit in ``max_bytes`` of JSON, whether any was left out,
    and, when ``budget`` ran out, the time of the last line searched (the search stopped there).

    ``raw_lines`` are Docker's ``<time> <text>`` lines, oldest first; only the lines that may still be
    returned are held, so memory stays within ``max_bytes`` however long the log. ANSI escapes are
    stripped and a line is cut at 16 KiB before ``grep`` sees it (a substring, or a compiled pattern:
    anything with ``search``). Left out: lines cut, older matches beyond ``tail``, older lines beyond
    the byte budget. With ``grep``, each line is charged to ``budget`` first; once it is spent the
    scan stops, and ``cut_room`` more bytes are freed for the answer's ``cut_short``.
    """
    kept: deque[tuple[str, str, int, bool]] = deque()
    size, dropped = 0, False
    searched_until = None
    for raw in raw_lines:
        if raw.endswith(b"\r"):  # a TTY ends its lines with \r\n
            raw = raw[:-1]
        stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
        # Longer than the engine client kept (it keeps one byte more), or than shown.
        cut = len(raw) - raw.find(b" ") - 1 > LINE_BYTES
        text = ANSI_ESCAPE.sub("", text)
        cut = cut or len(text) > MAX_LINE
        if cut:
            text = text[:MAX_LINE]
        if grep is not None:
            found = grep_matches(grep, text) if budget is None else budget.search(grep, text)
            if found is None:
                break
            searched_until = stamp
            if not found:
                continue
        cost = LINE_JSON_OVERHEAD[timestamps] + _json_size(text)
        kept.append((stamp, text, cost, cut))
        size += cost
        while kept and (len(kept) > tail or size > max_bytes):
            size -= kept.popleft()[2]
            dropped = True
    stopped_at = None
    if budget is not None and budget.spent:
        stopped_at = _iso_ns(searched_until)
        while kept and size > max_bytes - cut_room:
            size -= kept.popleft()[2]
            dropped = True
    lines = [
        {"ts": _iso(stamp) if timestamps and stamp[:4].isdigit() else None, "text": text} for stamp, text, _, _ in kept
    ]
    return lines, dropped or any(cut for *_, cut in kept), stopped_at


def _iso_ns(stamp: str | None) -> str | None:
    """Docker's time as it came (nanoseconds, UTC ``Z``): a ``since`` that resumes where a search stopped."""
    return stamp if stamp and _RFC3339.match(stamp) else None


# ``cut_short`` in a JSON answer: ``,"cut_short":{"reason":…,"detail":…,"searched_until":…}`` is at most this long.
CUT_SHORT_ROOM = 512


def container_logs(
    found: Found,
    *,
    tail: int,
    since: datetime | None,
    until: datetime | None,
    grep,
    timestamps: bool = True,
    client_gone: Callable[[], bool] | None = None,
) -> dict:
    """``{name, lines, truncated, cut_short}``: the last ``tail`` lines (after ``grep``), within
    ``WALLETOPS_LOGS_MAX_BYTES``, and ``cut_short`` (None, or why) when ``grep`` spent its budget.

    ANSI escapes stripped, long lines cut at 16 KiB, and the newest lines kept when the whole would
    pass the byte cap: a JSON body stays under it (the text rendering and the portal's page hold the
    same lines). Lines are read from the engine as they come, never the whole log at once.
    """
    # With a filter, read further back so ``tail`` matching lines can be found.
    fetch = tail if grep is None else max(tail, GREP_SCAN)
    # The body around the lines; each line is counted with a comma, and the last has none.
    envelope = len('{"name":,"lines":[],"truncated":false,"cut_short":null}') + _json_size(found.name) - 1
    budget = GrepBudget.from_settings(client_gone=client_gone) if grep is not None else None

    def scan():
        with _engine_answers():
            raw = engine.container_log_lines(
                found.url, found.id, tail=fetch, since=since, until=until, max_bytes=LINE_BYTES
            )
            with closing(raw):  # a scan that stops early hangs up on the engine at once
                return collect_log_lines(
                    raw,
                    tail=tail,
                    grep=grep,
                    timestamps=timestamps,
                    max_bytes=settings.WALLETOPS_LOGS_MAX_BYTES - envelope,
                    budget=budget,
                    cut_room=CUT_SHORT_ROOM,
                )

    try:
        # A search runs in a low-priority thread while the request's waits; without grep, reading is all.
        lines, truncated, searched_until = _scan_pool.submit(scan).result() if grep is not None else scan()
    except engine.ContainerGone:
        raise ContainerNotFound(f"{found.name} disappeared") from None
    cut_short = budget.cut_short(searched_until) if budget is not None else None
    return {"name": found.name, "lines": lines, "truncated": truncated or cut_short is not None, "cut_short": cut_short}


def container_health_check(found: Found) -> dict:
    """Run the container's own HEALTHCHECK command now, with its own timeout."""
    with _engine_answers():
        inspect = _inspect(found)
    if inspect is None:
        raise ContainerNotFound(f"{found.name} disappeared")
    check = (inspect.get("Config") or {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    docker_health = (inspect.get("State") or {}).get("Health") or {}
    result = {
        "name": found.name,
        "docker_health": {
            "status": docker_health.get("Status") or "none",
            "failing_streak": docker_health.get("FailingStreak", 0),
            "log": [
                {"exit_code": p.get("ExitCode"), "output": (p.get("Output") or "")[:4096]}
                for p in docker_health.get("Log") or []
            ],
        },
    }
    if not test or test[0] == "NONE":
        return {**result, "status": "none", "exit_code": None, "output": "", "duration_ms": 0, "checked_at": _now_iso()}
    state = inspect.get("State") or {}
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        raise ContainerNotRunning(_not_running(found.name, state.get("Status") or "not running"))
    command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    timeout_s = (check.get("Timeout") or 30_000_000_000) / 1e9
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(engine.container_exec, found.url, found.id, command)
        try:
            with _engine_answers():
                exit_code, output = future.result(timeout=timeout_s)
        except TimeoutError:
            exit_code, output = None, f"timed out after {timeout_s:g} s"
        except engine.ContainerNotRunning:  # it stopped (or paused) between the inspect and the exec
            raise ContainerNotRunning(_not_running(found.name, "not running")) from None
        except engine.ContainerGone:
            raise ContainerNotFound(f"{found.name} disappeared") from None
    return {
        **result,
        "status": "healthy" if exit_code == 0 else "unhealthy",
        "exit_code": exit_code,
        "output": output[:4096],
        "duration_ms": round((time.monotonic() - started) * 1000),
        "checked_at": _now_iso(),
    }


def _not_running(name: str, state: str) -> str:
    return f"{name} is {state}: its health check runs inside the container, so start it first"


def _now_iso() -> str:
    return iso_utc(timezone.now())
