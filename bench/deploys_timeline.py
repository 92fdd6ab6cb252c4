"""The deploy timeline at scale: three hosts' audit files of 10,000 lines each.

    python -m bench.deploys_timeline [--lines 10000] [--repeat 20] [--rounds 3]

Writes three host folders as Kamal writes them (``[ts] [who] [production] [role] message``), then on a
private PostgreSQL times: the first read of the three files into the database (``audit_files_refresh``),
a pass with nothing new, the first page of the merged timeline (50 entries, with the locks and the latest
deploys: ``deploys_report``, what ``GET /deploys`` runs), and a page deep in the history (from a cursor).
The p50s are measured ``--rounds`` times (the median and range printed and written to
``var/bench/deploys_timeline.json``); the first read and the walk through every page happen once.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, record, table

ROLES = {"web-1": "web", "web-2": "web", "worker-1": "workers"}
MESSAGES = ["Pulled image with version {v}", "Booted app version {v}", "Executed cmd 'bin/migrate' on app version {v}",
            "Stopped app", "Pruned images", "Renaming container {v} to {v}_replaced_0123456789abcdef"]  # fmt: skip


def write_hosts(root: Path, lines: int) -> dict[str, Path]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    folders = {}
    for host, role in ROLES.items():
        folder = root / host / ".kamal"
        folder.mkdir(parents=True)
        with (folder / "wallet-core-production-audit.log").open("w") as log:
            for n in range(lines):
                stamp = (start + timedelta(minutes=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
                message = MESSAGES[n % len(MESSAGES)].format(v=f"v{n // 6}")
                log.write(f"[{stamp}] [ci@example.com] [production] [{role}] {message}\n")
        folders[host] = folder
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per figure; their median is reported")
    args = parser.parse_args()
    folders = write_hosts(Path(tempfile.mkdtemp(prefix="opsportal-bench-kamal-")), args.lines)
    os.environ["WALLETOPS_KAMAL_RUN_DIRS"] = ",".join(f"{host}={path}" for host, path in folders.items())
    os.environ["WALLETOPS_ENVS"] = "staging,production"
    with private_postgres_django():
        from walletops.deploys import reading, timeline

        started = time.perf_counter()
        reading.audit_files_refresh(service="wallet-core")
        first_read = time.perf_counter() - started
        filters = timeline.Filters(service="wallet-core", destination="production")
        deep = timeline.Cursor(datetime(2025, 3, 1, tzinfo=UTC), 2, 0)
        nothing_new, first_page, deep_page = [], [], []
        repeat = args.repeat
        for _ in range(args.rounds):  # interleaved: each round shares its noise
            nothing_new.append(p50_ms(lambda: reading.audit_files_refresh(service="wallet-core"), repeat=repeat))
            first_page.append(p50_ms(lambda: timeline.deploys_report(filters, limit=50), repeat=repeat))
            deep_page.append(p50_ms(lambda: timeline.deploys_report(filters, cursor=deep, limit=50), repeat=repeat))
        pages, cursor, started = 0, None, time.perf_counter()
        while True:
            _, following = timeline.timeline_page(filters, cursor=cursor, limit=500)
            pages += 1
            if following is None:
                break
            cursor = timeline.Cursor.decode(following)
        walk = time.perf_counter() - started
    total = 3 * args.lines
    figures = [
        measured(f"first read of 3 hosts x {args.lines:,} audit lines into the database", [first_read], "s"),
        measured("a pass with nothing new, p50", nothing_new, "ms"),
        measured("first page (50 entries, locks, latest deploys, files re-checked), p50", first_page, "ms"),
        measured("a page deep in the history (cursor), p50", deep_page, "ms"),
        measured(f"every entry, {pages} pages of 500", [walk], "s"),
    ]
    print(f"3 hosts x {args.lines:,} audit lines ({total:,}; {total / first_read:,.0f} lines/s at the first read):")
    print(table(figures))
    print(f"written to {record('deploys_timeline', figures, settings=vars(args))}")


if __name__ == "__main__":
    main()
