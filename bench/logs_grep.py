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
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc

from bench.common import p50_ms

LINES = 5000
WIDTH = 20_000
STAMP = b"2026-12-01T03:02:34.789457756Z "
KILL_AFTER_S = 10
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
    kept, truncated = collect_log_lines(lines, tail=tail, grep=grep, max_bytes=max_bytes)
    return time.perf_counter() - started, kept, truncated


def p50_s(lines: list[bytes], grep) -> float:
    """RE2 and substring figures: the median of 3 runs (the machine may be shared)."""
    return p50_ms(lambda: run(lines, grep), repeat=3, warmup=1) / 1000


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
        fast = p50_s(lines, re2_pattern)
        worst = max(worst, fast)
        print(f"   {source:<42} {_ms(slow)} {_ms(fast)} {slow / fast:>8.1f}x  {len(kept_re2)} ({what})")
    substring = p50_s(lines, "status=503")
    print(f"   {'status=503 (plain text: a substring)':<42} {'':>12} {_ms(substring)}")
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
    measured = []
    for count in (20, 22, 24):
        seconds, _, _ = run([STAMP + b"a" * count + b"!"], python_re)
        measured.append(f"{count} a: {seconds * 1000:,.0f} ms")
    print(f"   (a+)+$ over n a then '!', re measured: {', '.join(measured)} (each a about doubles it)")
    line = [STAMP + b"a" * 40 + b"!"]
    fast = p50_ms(lambda: run(line, re2_pattern), repeat=5) / 1000
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
    fast = p50_s(zeros, re2_pattern)
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


def main() -> None:
    _django()
    lines = access_log_lines(LINES, WIDTH)
    worst = max(benign(lines), catastrophic())
    byte_cap(lines)
    print(
        f"RE2: the slowest grep here over {LINES:,} lines of {WIDTH:,} characters took {worst * 1000:,.0f} ms, "
        "with the endpoint's whole line handling (decode, ANSI strip, cut, grep, byte count)"
    )


if __name__ == "__main__":
    main()
