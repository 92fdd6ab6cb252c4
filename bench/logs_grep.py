"""``grep`` over container logs: Python's ``re`` (before) against RE2 (now), and the logs byte cap.

    python -m bench.logs_grep

Both engines run through the endpoint's own line handling (``containers.collect_log_lines``:
decode, ANSI strip, 16 KiB cut, grep, tail, byte cap) over Docker-shaped lines made in memory
(``<time> <text>``), so only the engine differs; no Docker engine is needed.

1. Benign patterns over 5,000 lines of 20,000 characters: both engines on all of it.
2. Catastrophic patterns. RE2 runs them on the full input. Python's ``re`` is bounded, and says
   how: ``(a+)+$`` over 40 ``a`` then ``!`` runs in a subprocess killed after a timeout, and is
   measured on 20 to 24 ``a`` (each ``a`` about doubles it); ``0+1`` over lines of 20,000 zeros
   is measured on a few lines and scaled to 5,000.
3. ``tail=5000`` of 20,000-character lines: JSON bytes and peak memory (tracemalloc) of the
   collected lines with the cap (``WALLETOPS_LOGS_MAX_BYTES``) and without one (as before).
4. A corpus of hostile patterns (nested quantifiers, ``[\\s\\S]{1000}``, ``{1000}`` chains, 1,000-branch
   alternations, long literals) over 5,000 lines of 20,000 characters (random ``0``/``1``, and the
   access-log lines): refused when parsed (400), or searched within the grep budget
   (``WALLETOPS_LOGS_GREP_MAX_MS``): the time each answers in, and the worst. Before the budget, the
   cost of all 5,000 lines is measured on a few and scaled.

    python -m bench.logs_grep --http [--concurrent 4] [--repeat 200] [--rounds 3]

5. (``--http``) The same corpus through the API of the portal served as in production (the Procfile's
   gunicorn line, a private PostgreSQL and Docker engine, a container holding 5,000 lines of 20,000
   characters): each request's answer time, then ``GET /api/ops/plannings``'s p50 idle against while
   ``--concurrent`` hostile requests run without pause, in alternating rounds (the median ratio).

Figures, printed as before and as a table, are written to ``var/bench/logs_grep.json`` (5.:
``logs_grep_http.json``; ``bench.figures``): RE2 and substring times are the median of 3 runs with
their range (Python's ``re``, one run, as said above); the hostile corpus runs --rounds times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from bench.common import p50_ms
from bench.figures import Figure, measured, ratio, record, table

LINES = 5000
WIDTH = 20_000
STAMP = b"2026-12-01T03:02:34.789457756Z "
KILL_AFTER_S = 10
# (pattern, what it stands for): the probe and its family, each in the /…/ form the API takes.
HOSTILE = [
    ("/[\\s\\S]{1000}0{1000}1/", "the issue's probe"),
    ("/.{1000}1/", "{1000} of any character"),
    ("/a{1000}b{1000}c{1000}/", "a {1000} chain"),
    ("/(a{10}){10}/", "nested counted repetitions"),
    ("/(a+)+$/", "nested quantifiers"),
    ("/((a*)*b)*c/", "nested stars"),
    ("/(x+x+)+y/", "nested pluses"),
    ("/" + "|".join(f"w{i}" for i in range(1000)) + "/", "1,000-branch alternation"),
    ("/" + "|".join(f"w{i}" for i in range(40)) + "/", "the widest alternation within 200 characters"),
    ("/" + "x" * 198 + "/", "a 198-character literal"),
    ("/" + "x" * 300 + "/", "a 300-character literal"),
    ("/\\pL{10}/", "a Unicode class, counted"),
    ("/[01]{100}0[01]{100}1[01]{100}2/", "{100} chain, within the bounds"),
    ("/[\\s\\S]{100}0[\\s\\S]{100}1[\\s\\S]{100}2/", "{100} chain of any character"),
    ("/(?i)[^x]{100}1[^x]{100}1[^x]{100}1[^x]{100}1/", "the largest program allowed here"),
]
BENIGN = [
    ("/status=5\\d\\d timeout after \\d+ ms/", "a rare error, found"),
    ("/user=(alice|bob) .*latency=9\\d\\dms/", "alternation and .*"),
    ("/(?i)panic: [a-z]+ overflow/", "case-insensitive, no match"),
]


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
    os.environ.setdefault("DJANGO_ENV", "test")
    import django

    django.setup()


def access_log_lines(count: int, width: int) -> list[bytes]:
    """Access-log-like lines; every 50th starts with the rare error. 50 distinct lines, cycled."""
    rng = random.Random(11)
    users, paths = ["alice", "bob", "carol", "dave"], ["/api/v1/items", "/api/v1/pay", "/health", "/login"]
    pool = []
    for index in range(50):
        head = "status=503 timeout after 1500 ms " if index == 0 else ""
        words = []
        while sum(map(len, words)) < width:
            words.append(f"GET {rng.choice(paths)}/{rng.randrange(10**6)} status=200 user={rng.choice(users)} "
                         f"latency={rng.randrange(400)}ms; ")  # fmt: skip
        pool.append(STAMP + (head + "".join(words))[:width].encode())
    return [pool[i % len(pool)] for i in range(count)]


def run(lines: list[bytes], grep, *, tail: int = 5000, max_bytes: int = 2 * 1024 * 1024):
    from walletops.containers import collect_log_lines

    started = time.perf_counter()
    kept, truncated, _ = collect_log_lines(lines, tail=tail, grep=grep, max_bytes=max_bytes)
    return time.perf_counter() - started, kept, truncated


ROUNDS = 3  # runs per RE2 and substring figure (the machine may be shared): their median and range
FIGURES: list[Figure] = []  # what this run writes to var/bench/logs_grep.json


def rounds_s(lines: list[bytes], grep) -> list[float]:
    """Seconds of ``ROUNDS`` runs, after one warm-up."""
    run(lines, grep)
    return [run(lines, grep)[0] for _ in range(ROUNDS)]


def p50_s(lines: list[bytes], grep) -> float:
    """RE2 and substring figures: the median of ``ROUNDS`` runs."""
    return statistics.median(rounds_s(lines, grep))


def engines(source: str):
    from walletops.web import params

    pattern = source[1:-1]
    return re.compile(pattern), params.grep_pattern(pattern)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:>9.1f} ms"


def benign(lines: list[bytes]) -> float:
    print(f"1. benign patterns, {LINES:,} lines of {WIDTH:,} characters (cut at 16 KiB before grep); re: one run")
    print(f"   {'pattern':<42} {'re':>12} {'RE2':>12} {'re / RE2':>9}  matches")
    worst = 0.0
    for source, what in BENIGN:
        python_re, re2_pattern = engines(source)
        slow, kept_re, _ = run(lines, python_re)
        _, kept_re2, _ = run(lines, re2_pattern)
        assert kept_re == kept_re2, source
        fasts = rounds_s(lines, re2_pattern)
        fast = statistics.median(fasts)
        worst = max(worst, fast)
        print(f"   {source:<42} {_ms(slow)} {_ms(fast)} {slow / fast:>8.1f}x  {len(kept_re2)} ({what})")
        re2 = measured(f"RE2 grep {source}", [f * 1000 for f in fasts], "ms", goal_max=1000.0)
        FIGURES.extend([
            re2,
            measured(f"re / RE2, {source} (re: one run)", [slow / f for f in fasts], "x"),
        ])  # fmt: skip
    substrings = rounds_s(lines, "status=503")
    substring = statistics.median(substrings)
    print(f"   {'status=503 (plain text: a substring)':<42} {'':>12} {_ms(substring)}")
    FIGURES.append(measured("substring grep status=503", [f * 1000 for f in substrings], "ms"))
    return worst


def _re_in_subprocess(pattern: str, text: str, timeout: float) -> float | None:
    """Seconds Python's re took in a child process, or None when it was killed at ``timeout``."""
    code = "import re, sys, time; t = time.perf_counter(); re.search(sys.argv[1], sys.argv[2]); " \
           "print(time.perf_counter() - t)"  # fmt: skip
    try:
        out = subprocess.run([sys.executable, "-c", code, pattern, text], capture_output=True, text=True,
                             timeout=timeout, check=True).stdout  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    return float(out)


def catastrophic() -> float:
    print("2. catastrophic patterns: RE2 on the full input; Python's re bounded as said")
    python_re, re2_pattern = engines("/(a+)+$/")
    timings = []
    for count in (20, 22, 24):
        seconds, _, _ = run([STAMP + b"a" * count + b"!"], python_re)
        timings.append(f"{count} a: {seconds * 1000:,.0f} ms")
    print(f"   (a+)+$ over n a then '!', re measured: {', '.join(timings)} (each a about doubles it)")
    line = [STAMP + b"a" * 40 + b"!"]
    fast = p50_ms(lambda: run(line, re2_pattern), repeat=5) / 1000
    FIGURES.append(measured("RE2 (a+)+$ over 40 a then !", [p50_ms(lambda: run(line, re2_pattern), repeat=5) * 1000
                                                           for _ in range(ROUNDS)], "µs"))  # fmt: skip
    assert run(line, re2_pattern)[1] == []
    killed = _re_in_subprocess("(a+)+$", "a" * 40 + "!", KILL_AFTER_S)
    shown = f"> {KILL_AFTER_S} s (in a subprocess, killed at {KILL_AFTER_S} s)" if killed is None else f"{killed:.1f} s"
    print(f"   (a+)+$ over 40 a then '!':  re {shown};  RE2 {fast * 1e6:,.0f} µs;  "
          f"re / RE2 > {KILL_AFTER_S / fast:,.0f}x")  # fmt: skip
    python_re, re2_pattern = engines("/0+1/")
    zeros = [STAMP + b"0" * WIDTH] * LINES
    sample = 3
    slow, _, _ = run(zeros[:sample], python_re)
    slow_all = slow * LINES / sample
    fasts = rounds_s(zeros, re2_pattern)
    fast = statistics.median(fasts)
    FIGURES.append(measured(f"RE2 0+1 over {LINES:,} lines of {WIDTH:,} zeros", [f * 1000 for f in fasts], "ms"))
    assert run(zeros, re2_pattern)[1] == []
    print(f"   0+1 over {LINES:,} lines of {WIDTH:,} zeros:  re {slow / sample * 1000:,.0f} ms a line (measured on "
          f"{sample} lines), so about {slow_all / 60:,.0f} min for {LINES:,};  RE2 {fast * 1000:,.0f} ms for all "
          f"{LINES:,};  re / RE2 about {slow_all / fast:,.0f}x")  # fmt: skip
    return fast


def byte_cap(lines: list[bytes]) -> None:
    from django.conf import settings

    cap = settings.WALLETOPS_LOGS_MAX_BYTES
    print(f"3. tail=5000 of {WIDTH:,}-character lines, no grep (the lines collected; JSON bytes of the response)")
    for label, max_bytes in ((f"cap {cap / 2**20:g} MiB", cap), ("no cap (before)", 10**15)):
        seconds, kept, truncated = run(lines, None, max_bytes=max_bytes)
        body = len(json.dumps({"lines": kept}, ensure_ascii=False, separators=(",", ":")).encode())
        tracemalloc.start()
        run(lines, None, max_bytes=max_bytes)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"   {label:<16} {len(kept):>5} lines  {body / 1e6:>6.1f} MB of JSON  peak {peak / 1e6:>6.1f} MB  "
              f"{_ms(seconds).strip()}  truncated={truncated}")  # fmt: skip
    print("   (before, the engine's whole answer was also held, as bytes and decoded: 2x the log on top)")


def random_bits_lines(count: int, width: int) -> list[bytes]:
    """Random ``0``/``1`` lines: every counted repetition of [01] makes RE2's DFA a new state a character."""
    rng = random.Random(7)
    pool = [STAMP + "".join(rng.choice("01") for _ in range(width)).encode() for _ in range(4)]
    return [pool[i % len(pool)] for i in range(count)]


def parsed(source: str):
    """The API's own parse of ``grep``: the compiled pattern, or the 400's detail."""
    from opsportal.api.errors import InvalidParam
    from walletops.web import params

    try:
        return params.validated(params.LogsQuery, {"grep": source}).validated_data["grep"], None
    except InvalidParam as refused:
        return None, str(refused.detail)


def unbounded_per_line_s(source: str, line: bytes) -> float:
    """Before: RE2 with today's options but none of the parse-time bounds, one line's search."""
    import re2

    from walletops.web import params

    try:
        pattern = re2._Regexp(source[1:-1], params.RE2_OPTIONS)
    except re2.error:
        return float("nan")
    text = line.decode().partition(" ")[2][: 16 * 1024]
    started = time.perf_counter()
    pattern.search(text)
    return time.perf_counter() - started


def hostile(corpora: dict[str, list[bytes]]) -> float:
    from django.conf import settings

    from walletops.containers import GrepBudget, collect_log_lines

    budget_ms = settings.WALLETOPS_LOGS_GREP_MAX_MS
    print(f"4. hostile patterns over {LINES:,} lines of {WIDTH:,} characters, grep budget {budget_ms} ms "
          f"(WALLETOPS_LOGS_GREP_MAX_MS); before = no bounds, no budget: one line measured, x {LINES:,}")  # fmt: skip
    worst = 0.0
    for source, what in HOSTILE:
        started = time.perf_counter()
        pattern, refused = parsed(source)
        parse_s = time.perf_counter() - started
        shown = source if len(source) <= 44 else source[:41] + "..."
        before = max(unbounded_per_line_s(source, lines[0]) for lines in corpora.values()) * LINES
        before_text = f"before ~{before:,.1f} s" if before == before else "before: RE2 refused it too"
        if refused:
            worst = max(worst, parse_s)
            print(f"   {shown:<45} 400 in {parse_s * 1000:.1f} ms ({what}; {before_text}): {refused[:90]}")
            continue
        for corpus, lines in corpora.items():
            budget = GrepBudget.from_settings()
            started = time.perf_counter()
            kept, _, _ = collect_log_lines(lines, tail=5000, grep=pattern, max_bytes=2 * 1024 * 1024, budget=budget)
            elapsed = time.perf_counter() - started + parse_s
            worst = max(worst, elapsed)
            outcome = f"cut short ({budget.reason})" if budget.spent else "searched all"
            print(f"   {shown:<45} {corpus:<6} {_ms(elapsed)}  {outcome}, {len(kept)} matches "
                  f"({what}; {before_text})")  # fmt: skip
    print(f"   worst: {worst * 1000:,.0f} ms")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true", help="5.: through gunicorn, with plannings' p50 beside")
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the hostile corpus, and of 5.'s load")
    parser.add_argument("--only-hostile", action="store_true", help="4. (and 5.) only")
    parser.add_argument(
        "--engine-elsewhere",
        action="store_true",
        help="5. with the Docker engine at nice 19: as if it ran on its own host, as Kamal's engines do",
    )
    args = parser.parse_args()
    if args.http:
        http_bench(args)
        return
    _django()
    lines = access_log_lines(LINES, WIDTH)
    if not args.only_hostile:
        worst = max(benign(lines), catastrophic())
        byte_cap(lines)
        print(
            f"RE2: the slowest grep here over {LINES:,} lines of {WIDTH:,} characters took {worst * 1000:,.0f} ms, "
            "with the endpoint's whole line handling (decode, ANSI strip, cut, grep, byte count)"
        )
    corpora = {"bits": random_bits_lines(LINES, WIDTH), "access": lines}
    # The corpus --rounds times (each printed): the worst answer of each round, their median and range.
    worsts = [hostile(corpora) * 1000 for _ in range(args.rounds)]
    FIGURES.append(measured("hostile corpus: the slowest answer (parse + grep)", worsts, "ms"))
    print(table(FIGURES))
    print(f"written to {record('logs_grep', FIGURES, settings=vars(args))}")


BITS_SCRIPT = (
    f"l=$(awk 'BEGIN {{ srand(7); for (j = 0; j < {WIDTH}; j++) printf \"%d\", int(rand() * 2) }}'); "
    f'i=0; while [ $i -lt {LINES} ]; do echo "$l"; i=$((i+1)); done; echo done; exec sleep 100000'
)


class Hammer(threading.Thread):
    """A client sending hostile greps one after another until told to stop: each answer's time is kept."""

    def __init__(self, url: str, headers: dict, sources: list[str]):
        super().__init__(daemon=True)
        self.url, self.headers, self.sources = url, headers, sources
        self.stop, self.times, self.errors = threading.Event(), [], []

    def run(self):
        import httpx

        with httpx.Client(timeout=httpx.Timeout(60)) as client:
            index = 0
            while not self.stop.is_set():
                source = self.sources[index % len(self.sources)]
                index += 1
                started = time.perf_counter()
                response = client.get(self.url, params={"grep": source, "tail": "1"}, headers=self.headers)
                self.times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    self.errors.append(response.status_code)


def _renice_all_threads(pid: int, niceness: int) -> None:
    """A Go program's threads each have their own niceness on Linux: set it on every one."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)


def http_bench(args) -> None:
    import docker
    import httpx

    from bench.common import ROOT, private_postgres_django
    from bench.logs_follow import health_p50, procfile_web
    from scripts.servers.docker import PrivateDocker, busybox_image
    from scripts.servers.postgres import free_port
    from scripts.servers.process import process_stop

    image, token_for_ops = "opsportal/busybox:test", "bench-token-of-at-least-32-characters-long"
    engine = PrivateDocker()
    engine.start()
    if args.engine_elsewhere:
        _renice_all_threads(engine.process.pid, 19)
    server = None
    try:
        busybox_image(engine.url, image)
        client = docker.DockerClient(base_url=engine.url, version="1.41", timeout=120)
        bits = client.containers.run(image, ["/bin/sh", "-c", BITS_SCRIPT], name="wallet-core-bench-bits-1",
                                     detach=True, init=True, network_mode="host",
                                     labels={"service": "wallet-core-bench", "role": "bits"})  # fmt: skip
        limit = time.monotonic() + 300
        while b"done" not in bits.logs(tail=1) and time.monotonic() < limit:
            time.sleep(0.5)
        with private_postgres_django() as database_url:
            from django.conf import settings

            from opsportal.api.tokens import api_token_create

            token = api_token_create(name="bench", scopes=["read"]).secret
            port = free_port()
            env = {
                **os.environ, "DATABASE_URL": database_url, "DJANGO_ENV": "test", "OPS_TOKEN": token_for_ops,
                "PORT": str(port), "WALLETOPS_ENVS": "bench", "WALLETOPS_DOCKER_HOSTS": f"bench={engine.url}",
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            }  # fmt: skip
            command = procfile_web(env)
            print(f"serving: {command}")
            server = subprocess.Popen(["/bin/sh", "-c", f"exec {command} --log-level warning"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL)  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = httpx.get(f"{base}/api/ops/plannings", headers={"x-ops-token": token_for_ops})
                    if answer.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start")
                time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{base}/api/v1/admin/ops/containers/wallet-core-bench-bits-1/logs?env=bench"
            print(f"5. through gunicorn, over {LINES:,} lines of {WIDTH:,} random 0/1 characters, "
                  f"grep budget {settings.WALLETOPS_LOGS_GREP_MAX_MS} ms:")  # fmt: skip
            worst, accepted = 0.0, []
            with httpx.Client(timeout=httpx.Timeout(60)) as http:
                for source, what in HOSTILE:
                    started = time.perf_counter()
                    response = http.get(url, params={"grep": source, "tail": "1"}, headers=headers)
                    elapsed = time.perf_counter() - started
                    worst = max(worst, elapsed)
                    json_body = response.headers.get("content-type", "").startswith("application/json")
                    body = response.json() if json_body else {}
                    shown = source if len(source) <= 44 else source[:41] + "..."
                    if response.status_code == 200:
                        cut = body["cut_short"]["reason"] if body["cut_short"] else "searched all"
                        if cut == "grep_time_budget":  # the ones that cost the most: the load below
                            accepted.append(source)
                        print(f"   {shown:<45} 200 in {_ms(elapsed)}: {cut} ({what})")
                    else:
                        said = body.get("detail") or response.text  # gunicorn's own 400: request line too large
                        print(f"   {shown:<45} {response.status_code} in {_ms(elapsed)} ({what}): {said[:70]!r}")
            print(f"   worst: {worst * 1000:,.0f} ms")
            figures = [measured("through gunicorn: the slowest hostile answer (one pass)", [worst * 1000], "ms")]
            rounds, answers = [], []
            for _ in range(args.rounds):
                idle = health_p50(base, args.repeat)
                hammers = [Hammer(url, headers, accepted) for _ in range(args.concurrent)]
                for hammer in hammers:
                    hammer.start()
                time.sleep(1)
                busy = health_p50(base, args.repeat)
                for hammer in hammers:
                    hammer.stop.set()
                for hammer in hammers:
                    hammer.join(60)
                    answers += hammer.times
                rounds.append((idle, busy))
            print("   GET /api/ops/plannings p50, idle -> with {} hostile greps running: {}; ratio {:.2f}".format(
                args.concurrent, ", ".join(f"{idle:.2f} -> {busy:.2f} ms" for idle, busy in rounds),
                statistics.median(busy / idle for idle, busy in rounds),
            ))  # fmt: skip
            p50 = statistics.median(answers) * 1000
            print(f"   the hostile greps meanwhile: {len(answers)} answered, p50 {p50:,.0f} ms, "
                  f"worst {max(answers) * 1000:,.0f} ms")  # fmt: skip
            idle = measured("GET /api/ops/plannings p50, idle", [idle for idle, _ in rounds], "ms")
            busy = measured(f"GET /api/ops/plannings p50, {args.concurrent} hostile greps running",
                            [busy for _, busy in rounds], "ms")  # fmt: skip
            figures += [
                idle, busy, ratio(f"plannings p50 with {args.concurrent} hostile greps / idle", busy, idle),
                measured("the hostile greps meanwhile: answer time (each answer)", [a * 1000 for a in answers], "ms"),
            ]  # fmt: skip
            print(table(figures))
            print(f"written to {record('logs_grep_http', figures, settings=vars(args))}")
    finally:
        if server is not None:
            process_stop(server, timeout=10)
        engine.destroy()


if __name__ == "__main__":
    main()
