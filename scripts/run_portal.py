"""``make run``'s supervisor: the portal, its Celery worker and beat, and the demo feed server.

Starts every process, prints where to go, and stops them all on Ctrl-C or when any
one of them exits. Demo defaults (set only when the variable is unset): a backfill
every minute and no quiet hours, so coverage climbs visibly at any hour.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Quiet hours are off ("none" does not parse) so the demo shows activity at any hour.
DEMO_DEFAULTS = {"PLANNINGS_BACKFILL_INTERVAL_MS": "60000", "JOBS_QUIET_HOURS": "none"}


def mode_banner() -> str:
    """Which mode the portal starts in, read as the settings read it, and how to switch."""
    from opsportal.lib.env import portal_str, strict_bool

    mode = portal_str("DJANGO_ENV", "development").lower()
    debug = strict_bool("DJANGO_DEBUG", default=mode != "production")
    if mode == "production":
        return (
            "Mode: production (DJANGO_ENV=production): DEBUG off, HTTPS redirect, secure cookies and HSTS on; "
            "over this plain-HTTP dev server the browser is sent to https://. Unset DJANGO_ENV for development."
        )
    if debug:
        return (
            f"Mode: {mode} (DJANGO_ENV={mode}), DEBUG on: an error shows Django's debug page with the traceback and "
            "the settings (secrets masked). DJANGO_DEBUG=false turns DEBUG off; production is DJANGO_ENV=production "
            "with DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and an OPS_TOKEN of 32+ characters (README, Configuration)."
        )
    return (
        f"Mode: {mode} (DJANGO_ENV={mode}), DEBUG off (DJANGO_DEBUG=false): an error shows a plain 500 page. "
        "Unset DJANGO_DEBUG for the debug page; production is DJANGO_ENV=production."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    parser.add_argument("--feeds-port", default="8001")
    args = parser.parse_args()
    print(mode_banner(), flush=True)
    env = {**DEMO_DEFAULTS, **os.environ}
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "opsportal"]
    var = Path(env.get("OPSPORTAL_VAR_DIR") or ROOT / "var")
    commands = {
        "feeds": [python, "-m", "scripts.servers.feeds", "--port", args.feeds_port],
        # --insecure: the admin's static files are served with DEBUG off too.
        "web": [python, "manage.py", "runserver", "--noreload", "--insecure", f"{args.host}:{args.port}"],
        "worker": [*celery, "worker", "--pool", "threads", "--concurrency", "2", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "--schedule", str(var / "celerybeat-schedule"), "--loglevel", "INFO"],
    }
    processes = {name: subprocess.Popen(command, cwd=ROOT, env=env) for name, command in commands.items()}
    print(
        f"\nopsportal is starting: admin http://{args.host}:{args.port}/admin/ , "
        f"health http://{args.host}:{args.port}/api/ops/plannings ; Ctrl-C stops everything.\n",
        flush=True,
    )

    def stop(*_):
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the rest", file=sys.stderr)
                    stop()
                    return process.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
