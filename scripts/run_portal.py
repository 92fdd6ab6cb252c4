"""``make run``'s supervisor: the portal, its Celery worker and beat, and the demo feed server.

Starts every process, prints where to go, and stops them all on Ctrl-C or when any
one of them exits. Demo defaults (set only when the variable is unset): a backfill
every minute and no quiet hours, so coverage climbs visibly at any hour; a demo
deploy_info.json for the Deploy panel; and it says whether a local Docker engine
answers for the Containers panel, and what to set for the panels it cannot show.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scripts.demo_catalog import DEMO_DEPLOY_INFO, write_demo_deploy_info

ROOT = Path(__file__).resolve().parent.parent
# Quiet hours are off ("none" does not parse) so the demo shows activity at any hour.
DEMO_DEFAULTS = {"PLANNINGS_BACKFILL_INTERVAL_MS": "60000", "JOBS_QUIET_HOURS": "none"}
LOCAL_DOCKER_SOCKET = Path("/var/run/docker.sock")
CONFIGURATION_DOC = "docs/configuration.md; the portal serves it at /admin/ops/docs/configuration/#configuration"


def docker_engine_version(url: str, *, timeout: float = 2.0) -> str | None:
    """The version of the Docker engine answering at ``url`` (``unix:///…``), or None when none answers."""
    import docker
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    try:
        client = docker.DockerClient(base_url=url, version="1.41", timeout=timeout)
        try:
            return str(client.version().get("Version") or "unknown")
        finally:
            client.close()
    except (DockerException, RequestException, OSError):
        return None


def _commit_sha() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _demo_commit(path: Path) -> str | None:
    """The commit of the demo deploy info already written, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("commit_sha")
    except (OSError, ValueError, AttributeError):
        return None


def demo_setup(environ: dict[str, str], var: Path, *, docker_socket: Path = LOCAL_DOCKER_SOCKET) -> tuple[dict, list]:
    """The variables ``make run`` adds for the outside systems' panels, and what to print about each.

    Deploy: a demo deploy_info.json in ``var`` (unless WALLETOPS_DEPLOY_INFO_PATH is set).
    Containers: the local engine when its socket answers (the settings' default already
    points there); otherwise what to set. Hosts: what to set (no Prometheus in the demo).
    """
    added: dict[str, str] = {}
    said: list[str] = []
    if environ.get("WALLETOPS_DEPLOY_INFO_PATH"):
        said.append(f"Deploy panel: reads WALLETOPS_DEPLOY_INFO_PATH={environ['WALLETOPS_DEPLOY_INFO_PATH']}.")
    else:
        path = var / DEMO_DEPLOY_INFO
        commit = _commit_sha()
        added["WALLETOPS_DEPLOY_INFO_PATH"] = str(path)
        # A restart of the same checkout is not a deploy: rewriting the file would send a [DEPLOY] notice to
        # every channel and hold the container alerts again at each ``make run``.
        if _demo_commit(path) == commit:
            said.append(f"Deploy panel: demo deploy info kept at {path} (same commit; set WALLETOPS_DEPLOY_INFO_PATH "
                        "for your own).")  # fmt: skip
        else:
            user = environ.get("USER") or getpass.getuser()
            write_demo_deploy_info(path, now=datetime.now(UTC), commit_sha=commit, deployed_by=user)
            said.append(
                f"Deploy panel: demo deploy info written to {path} (set WALLETOPS_DEPLOY_INFO_PATH for your own)."
            )
    if environ.get("WALLETOPS_DOCKER_HOSTS") or environ.get("DOCKER_HOST"):
        name = "WALLETOPS_DOCKER_HOSTS" if environ.get("WALLETOPS_DOCKER_HOSTS") else "DOCKER_HOST"
        said.append(f"Containers panel: the engines of {name}.")
    else:
        version = docker_engine_version(f"unix://{docker_socket}")
        if version:
            said.append(
                f"Containers panel: the local Docker engine at {docker_socket} answers (Docker {version}); "
                "it lists the containers of the Kamal service WALLETOPS_SERVICE (wallet-core) there."
            )
        else:
            said.append(
                f"Containers panel: no Docker engine answers at {docker_socket}; set WALLETOPS_DOCKER_HOSTS "
                f"({CONFIGURATION_DOC})."
            )
    if not environ.get("WALLET_CORE_OPS_PROMETHEUS_URL"):
        said.append(
            "Hosts panel: needs a Prometheus scraping node exporters; set WALLET_CORE_OPS_PROMETHEUS_URL "
            f"({CONFIGURATION_DOC})."
        )
    return added, said


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
            "with DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and an OPS_TOKEN of 32+ characters (docs/configuration.md)."
        )
    return (
        f"Mode: {mode} (DJANGO_ENV={mode}), DEBUG off (DJANGO_DEBUG=false): an error shows a plain 500 page. "
        "Unset DJANGO_DEBUG for the debug page; production is DJANGO_ENV=production."
    )


def start_processes(commands: dict[str, list[str]], *, env: dict[str, str]) -> dict[str, subprocess.Popen]:
    """Each command in a process group of its own: Ctrl-C reaches only this supervisor, which then stops
    them in ``STOP_ORDER`` (all in the terminal's group, the feed server died with the worker's batch in
    flight, which recorded every feed as connection_refused and showed every host failing)."""
    return {name: subprocess.Popen(command, cwd=ROOT, env=env, process_group=0) for name, command in commands.items()}


# As the Procfile's worker: no broadcast traffic; the portal shows workers from their own rows.
WORKER_QUIET = ("--without-gossip", "--without-mingle", "--without-heartbeat")
STOP_ORDER = ("worker", "beat", "web", "feeds")  # who uses whom: the feed server last


def stop_in_order(processes: dict[str, subprocess.Popen], *, timeout: float = 15.0) -> None:
    """SIGTERM each process in ``STOP_ORDER`` and wait for it to exit (killed after ``timeout``) before the next."""
    for name in sorted(processes, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else len(STOP_ORDER)):
        process = processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    added, said = demo_setup(env, var)
    env.update(added)
    for line in said:
        print(line, flush=True)
    commands = {
        "feeds": [python, "-m", "scripts.servers.feeds", "--port", args.feeds_port],
        # --insecure: the admin's static files are served with DEBUG off too.
        "web": [python, "manage.py", "runserver", "--noreload", "--insecure", f"{args.host}:{args.port}"],
        "worker": [*celery, "worker", "--pool", "threads", "--concurrency", "2", *WORKER_QUIET, "--loglevel", "INFO"],
        "beat": [*celery, "beat", "--schedule", str(var / "celerybeat-schedule"), "--loglevel", "INFO"],
    }
    processes = start_processes(commands, env=env)
    print(
        f"\nopsportal is starting: admin http://{args.host}:{args.port}/admin/ , "
        f"health http://{args.host}:{args.port}/api/ops/plannings ; Ctrl-C stops everything.\n",
        flush=True,
    )

    def stop(*_):
        stop_in_order(processes)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    signal.signal(signal.SIGHUP, lambda *_: (stop(), sys.exit(0)))  # the terminal closed: children have no tty
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
