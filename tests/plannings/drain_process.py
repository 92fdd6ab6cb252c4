"""One drain in its own process, started when the test says so (every drain of a test at once).

    python -m tests.plannings.drain_process READY_FILE GO_FILE

Django is set up and connected first (seconds on a busy machine), then READY_FILE is created and
the drain waits for GO_FILE: the test starts every drain's work together, whatever their start-up.
"""

import sys
import time
from pathlib import Path

import django

WAIT = 600


def main() -> None:
    ready, go = Path(sys.argv[1]), Path(sys.argv[2])
    django.setup()
    from django.db import connection

    from plannings.jobs import refresh_drain, worker_id

    connection.ensure_connection()
    ready.touch()
    deadline = time.monotonic() + WAIT
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.01)
    result = refresh_drain(owner=worker_id())
    print(f"claimed {result.claimed}, succeeded {result.succeeded}; {dict(result.outcomes)}", flush=True)


if __name__ == "__main__":
    main()
