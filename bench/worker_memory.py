"""Peak memory (RSS) of a worker process refreshing one 5,000-event feed.

    python -m bench.worker_memory [--events 5000] [--rounds 3]

A fresh process sets Django up, reports its RSS, drains the queue (one planning
whose feed holds N events) and reports its peak RSS: the figure the README quotes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench.common import ROOT, private_postgres_django
from bench.figures import measured, record, table
from bench.refresh_throughput import queue, start_feed_server

CHILD = """
import resource, django
django.setup()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from plannings import jobs
result = jobs.refresh_drain(owner="memory-bench")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from plannings.models import PlanningBackup
events = len(PlanningBackup.objects.get().events)
print(before // 1024, after // 1024, result.succeeded, events)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="fresh worker processes; the median is reported")
    args = parser.parse_args()
    server, feeds_url = start_feed_server()
    try:
        with private_postgres_django() as url:
            env = {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DJANGO_ENV": "test",
                   "CURL_TIMEOUT": "60000", "PATH": "/usr/bin:/bin"}  # fmt: skip
            befores, peaks = [], []
            for _ in range(args.rounds):
                queue([f"{feeds_url}/ok/memory.ics?events={args.events}"])
                out = subprocess.run(
                    [sys.executable, "-c", CHILD], cwd=ROOT, env=env, check=True, capture_output=True, text=True
                ).stdout.split()
                before, peak, succeeded, events = map(int, out)
                if (succeeded, events) != (1, args.events):
                    raise RuntimeError(f"the worker stored {succeeded} planning(s), {events} events")
                befores.append(before)
                peaks.append(peak)
            result = [
                measured("worker RSS after start-up", befores, "MB"),
                measured(f"worker peak RSS refreshing one {args.events:,}-event feed", peaks, "MB"),
            ]
            print(table(result))
            print(f"written to {record('worker_memory', result, settings=vars(args))}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
