"""`make image-check`: build the Dockerfile and run the image the production way, with no registry.

1. debootstrap a minimal Debian bookworm (variant minbase, what debian:bookworm-slim is made of),
   cached in var/image-check/bookworm-rootfs/ (delete it, or pass --fresh-rootfs, to make it again);
2. start a private dockerd (scripts.servers.docker.PrivateDocker: its own socket and data root, no
   bridge) and `tar -C rootfs -c . | docker import` the rootfs as opsportal-base:bookworm;
3. build the Dockerfile with --build-arg BASE_IMAGE=opsportal-base:bookworm: Debian packages from
   Debian's mirror, the pinned requirements from PyPI (host network: the engine has no bridge);
4. run the image with production settings, as Kamal would: migrations in a one-off container (what
   `kamal app exec` does), then the web, worker and beat roles from the same image, sharing a SQLite
   database and a folder broker on one volume (this check has no PostgreSQL or Redis container:
   Docker Hub is out of reach); check them over HTTP and through Docker's own health status;
   then the roles again on a Redis broker, production's: a private redis-server on the host's
   loopback (scripts.servers.redis; the containers share the host's network), worker and beat in
   the image's own working dir, and /queues read from that Redis through a token made by
   `create_api_token` in a one-off container;
5. print what was measured, then remove the engine and everything in it (--keep leaves it running).

Needs root (debootstrap, dockerd), debootstrap, docker.io and redis-server, and Debian's mirror and PyPI.
Takes minutes, so it is not part of `make test`. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import httpx
import redis
from docker.utils.build import exclude_paths

from opsportal.lib.accounting import PREFIX as ACCOUNTING_PREFIX
from scripts.servers.docker import PrivateDocker
from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.redis import PrivateRedis

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "var" / "image-check"
SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE = ("opsportal-base", SUITE)
IMAGE = "opsportal:image-check"
VOLUME = "opsportal-image-check-data"
SITE = "ops.example.test"  # the public host name: DJANGO_ALLOWED_HOSTS and the Host of every request
DATA = "/var/lib/opsportal"
# The official image's sources: bookworm, its updates and security, deb822-style.
SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
SITE_CERTIFICATES = Path("/usr/local/share/ca-certificates")
# What the official "slim" variant leaves out, kept out of later packages too by dpkg.
SLIM_EXCLUDES = ("doc", "groff", "info", "linda", "lintian", "locale", "man")
SLIM_DPKG = (
    "# Like debian:bookworm-slim: documentation, manuals and translations are left out.\n"
    + "".join(f"path-exclude /usr/share/{folder}/*\n" for folder in SLIM_EXCLUDES)
    + "path-include /usr/share/doc/*/copyright\npath-include /usr/share/locale/locale.alias\n"
)


class CheckFailed(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB"


# As in the official image: apt keeps neither downloaded packages nor its binary caches in a layer.
_APT_RM = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"
APT_CLEAN = (
    f'DPkg::Post-Invoke {{ "{_APT_RM}"; }};\n'
    f'APT::Update::Post-Invoke {{ "{_APT_RM}"; }};\n'
    'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
)


# --- 1. the base: a debootstrapped bookworm ------------------------------------------------


def bookworm_rootfs(fresh: bool) -> tuple[Path, float | None]:
    """The cached rootfs, made first if needed; returns it and debootstrap's seconds (None: cached)."""
    rootfs, complete = CACHE / f"{SUITE}-rootfs", CACHE / f"{SUITE}-rootfs.complete"
    if complete.exists() and not fresh:
        return rootfs, None
    if shutil.which("debootstrap") is None:
        raise ServerUnavailable("debootstrap is not installed; apt-get install debootstrap")
    complete.unlink(missing_ok=True)
    shutil.rmtree(rootfs, ignore_errors=True)  # a partial or stale one
    CACHE.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap --variant=minbase {SUITE} {rootfs} {MIRROR}")
    started = time.monotonic()
    log = CACHE / "debootstrap.log"
    with log.open("w") as out:
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR], stdout=out, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        raise CheckFailed(f"debootstrap failed ({result.returncode}); see {log}")
    elapsed = time.monotonic() - started
    # Shaped like the official image: its apt sources, no package lists or downloaded packages.
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(SOURCES)
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / folder).iterdir():
            if path.is_file():
                path.unlink()
    complete.write_text(f"debootstrap --variant=minbase {SUITE} {MIRROR}: {elapsed:.0f} s\n")
    return rootfs, elapsed


def shape_like_slim(rootfs: Path) -> None:
    """Drop what the slim variant drops (documentation but copyrights, manuals, translations), tell
    dpkg to keep them out of the packages the Dockerfile installs, and apt to keep no caches in
    layers, as the official image does. Idempotent."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(SLIM_DPKG)
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    for folder in SLIM_EXCLUDES:
        top = rootfs / "usr/share" / folder
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.name in {"doc": ("copyright",), "locale": ("locale.alias",)}.get(folder, ()):
                continue
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink()


def site_trust(rootfs: Path) -> list[str]:
    """Give the base this machine's extra certificate authorities, if it has any.

    Where outbound HTTPS goes through a TLS-inspecting proxy, its CA sits in
    /usr/local/share/ca-certificates and the build's pip must trust it too: the certificates are
    copied into the base (the Dockerfile's `apt-get install ca-certificates` adds them to the
    system bundle) and /etc/pip.conf points pip at that bundle. Without such certificates the
    base stays plain Debian. Either way the Dockerfile is the one production builds.
    """
    certificates = sorted(SITE_CERTIFICATES.glob("*.crt")) if SITE_CERTIFICATES.is_dir() else []
    target = rootfs / "usr/local/share/ca-certificates"
    for old in target.glob("*.crt") if target.is_dir() else []:
        old.unlink()
    pip_conf = rootfs / "etc/pip.conf"
    pip_conf.unlink(missing_ok=True)
    if certificates:
        target.mkdir(parents=True, exist_ok=True)
    for certificate in certificates:
        shutil.copy2(certificate, target / certificate.name)
    if certificates:
        pip_conf.write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    return [certificate.name for certificate in certificates]


def import_base(client: docker.APIClient, rootfs: Path) -> float:
    """`tar -C rootfs -c . | docker import - opsportal-base:bookworm`, with the official image's PATH and CMD."""
    started = time.monotonic()
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--exclude=./dev/*", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        client.import_image(
            src=tar.stdout,
            repository=BASE[0],
            tag=BASE[1],
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["bash"]'],
            stream_src=True,
        )
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise CheckFailed(f"tar of {rootfs} failed ({tar.returncode})")
    return time.monotonic() - started


# --- 3. the build ---------------------------------------------------------------------------------


def context_size() -> tuple[int, int]:
    """Files and bytes of the build context after .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = [ROOT / path for path in exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")]
    files = [path for path in files if path.is_file() and not path.is_symlink()]
    return len(files), sum(path.stat().st_size for path in files)


def build(client: docker.APIClient, log_path: Path) -> float:
    started = time.monotonic()
    with log_path.open("w") as log:
        for chunk in client.build(
            path=str(ROOT),
            dockerfile="Dockerfile",
            tag=IMAGE,
            buildargs={"BASE_IMAGE": f"{BASE[0]}:{BASE[1]}"},
            network_mode="host",
            rm=True,
            forcerm=True,
            decode=True,
            timeout=3600,
        ):
            text = chunk.get("stream", "")
            log.write(text)
            if text.startswith("Step "):
                say(f"  {time.monotonic() - started:6.0f} s  {text.strip()[:110]}")
            if "error" in chunk:
                log.write(chunk["error"] + "\n")
                raise CheckFailed(f"build failed: {chunk['error'].strip()} (log: {log_path})")
    return time.monotonic() - started


# --- 4. running it -------------------------------------------------------------------------------


class Fleet:
    """Containers of the image on the private engine, with the production-like environment."""

    def __init__(self, client: docker.APIClient, env: dict[str, str], logs: Path):
        self.client, self.env, self.logs = client, env, logs
        self.names: list[str] = []

    def start(
        self, name: str, command: list[str] | None = None, working_dir: str | None = None, env: dict | None = None
    ) -> str:
        host_config = self.client.create_host_config(network_mode="host", binds={VOLUME: {"bind": DATA, "mode": "rw"}})
        environment = {**self.env, **(env or {})}
        container = self.client.create_container(
            IMAGE, command=command, name=name, environment=environment, host_config=host_config, working_dir=working_dir
        )
        self.client.start(container)
        self.names.append(name)
        return container["Id"]

    def logs_of(self, name: str, stderr: bool = True) -> str:
        return self.client.logs(name, stdout=True, stderr=stderr).decode(errors="replace")

    def remove(self, name: str) -> None:
        """Stop and remove one container, its log kept."""
        (self.logs / f"{name}.log").write_text(self.logs_of(name))
        self.client.remove_container(name, force=True)
        self.names.remove(name)

    def wait(self, name: str, timeout: float) -> int:
        return self.client.wait(name, timeout=timeout)["StatusCode"]

    def inspect(self, name: str) -> dict:
        return self.client.inspect_container(name)

    def save_logs(self) -> None:
        for name in self.names:
            with contextlib.suppress(docker.errors.APIError):
                (self.logs / f"{name}.log").write_text(self.logs_of(name))

    def remove_all(self) -> None:
        for name in reversed(self.names):
            with contextlib.suppress(docker.errors.APIError):
                self.client.remove_container(name, force=True)


def own_address() -> str | None:
    """A non-loopback address of this machine: requests to it come from a non-loopback peer,
    as kamal-proxy's do (it reaches the container over Docker's network)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 9))  # no packet is sent; this only picks the outgoing address
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def wait_for(what: str, predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Checks:
    def __init__(self):
        self.results: list[tuple[bool, str]] = []

    def record(self, ok: bool, text: str) -> bool:
        self.results.append((ok, text))
        say(f"  {'ok  ' if ok else 'FAIL'}  {text}")
        return ok

    @property
    def failed(self) -> int:
        return sum(1 for ok, _ in self.results if not ok)


def run_roles(client: docker.APIClient, figures: dict, checks: Checks) -> None:
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": SITE,
        "OPSPORTAL_BASE_URL": f"https://{SITE}",
        "OPS_TOKEN": token,
        "DATABASE_URL": f"sqlite:///{DATA}/opsportal.sqlite3",
        "CELERY_BROKER_URL": "filesystem://",
        "PORT": str(port),
        "JOBS_QUIET_HOURS": "none",  # the backfill runs whatever the hour of the check
    }
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    client.create_volume(VOLUME)
    fleet = Fleet(client, env, logs)
    broker = None
    try:
        _run_roles(fleet, port, token, figures, checks)
        say("the roles on a Redis broker (production's), from the image's working dir")
        try:
            broker = PrivateRedis(CACHE / "redis")
        except ServerUnavailable as missing:
            checks.record(False, f"no Redis broker for the containers: {missing}")
        else:
            broker.start()
            _run_redis_roles(fleet, broker.url, figures, checks)
    finally:
        fleet.save_logs()
        fleet.remove_all()
        if broker is not None:
            broker.destroy()
        say(f"  container logs: {logs}/")


def _run_roles(fleet: Fleet, port: int, token: str, figures: dict, checks: Checks) -> None:
    base = f"http://127.0.0.1:{port}"
    health_headers = {"Host": SITE, "x-ops-token": token}

    say("migrate, in a one-off container (as `kamal app exec` runs it)")
    started = time.monotonic()
    fleet.start("opsportal-migrate", ["python", "manage.py", "migrate", "--noinput"])
    status = fleet.wait("opsportal-migrate", timeout=300)
    figures["migrate"] = time.monotonic() - started
    checks.record(status == 0, f"migrate --noinput exited {status} in {figures['migrate']:.1f} s")
    if status != 0:
        raise CheckFailed(fleet.logs_of("opsportal-migrate")[-2000:])

    say("web role (the image's default command)")
    started = time.monotonic()
    web_id = fleet.start("opsportal-web")

    def health_ok():
        if fleet.inspect("opsportal-web")["State"]["Status"] != "running":
            raise CheckFailed("the web container stopped:\n" + fleet.logs_of("opsportal-web")[-2000:])
        try:
            response = httpx.get(f"{base}/api/ops/plannings", headers=health_headers, timeout=2)
        except httpx.HTTPError:
            return None
        return response if response.status_code == 200 else None

    health = wait_for("gunicorn to answer the health endpoint", health_ok, timeout=90)
    figures["web_start"] = time.monotonic() - started
    body = health.json()
    checks.record(
        "status" in body and "workers" in body,
        f"GET /api/ops/plannings with x-ops-token: 200 after {figures['web_start']:.1f} s "
        f"(status {body.get('status')!r})",
    )
    refused = httpx.get(f"{base}/api/ops/plannings", headers={"Host": SITE})
    checks.record(
        refused.status_code == 404 and refused.json() == {"error": "NOT_FOUND"},
        f"GET /api/ops/plannings without the token: {refused.status_code} {refused.text.strip()}",
    )
    plain = httpx.get(f"{base}/admin/login/", headers={"Host": SITE})
    checks.record(
        plain.status_code == 301 and plain.headers.get("location", "").startswith(f"https://{SITE}/"),
        f"GET /admin/login/ over plain HTTP: {plain.status_code} to {plain.headers.get('location')}",
    )

    # Through kamal-proxy: TLS ends at the proxy, which sets X-Forwarded-Proto and connects from
    # its own (non-loopback) address on Docker's network.
    peer = own_address()
    proxied_base = f"http://{peer}:{port}" if peer else base
    https = {"Host": SITE, "X-Forwarded-Proto": "https"}
    login = httpx.get(f"{proxied_base}/admin/login/", headers=https)
    checks.record(
        login.status_code == 200 and "strict-transport-security" in login.headers,
        f"GET /admin/login/ with X-Forwarded-Proto: https from {peer or '127.0.0.1'}: {login.status_code}, "
        f"HSTS {login.headers.get('strict-transport-security')!r}",
    )
    stylesheets = re.findall(r'href="([^"]+\.css)"', login.text)
    if checks.record(bool(stylesheets), f"the login page links {len(stylesheets)} stylesheet(s)"):
        css = httpx.get(f"{proxied_base}{stylesheets[0]}", headers={**https, "Accept-Encoding": "gzip"})
        hashed = re.search(r"\.[0-9a-f]{12}\.css$", stylesheets[0]) is not None
        checks.record(
            css.status_code == 200 and "text/css" in css.headers.get("content-type", "") and hashed,
            f"GET {stylesheets[0]}: {css.status_code} {css.headers.get('content-type')}, "
            f"{css.headers.get('content-encoding') or 'identity'}, cache-control {css.headers.get('cache-control')!r}",
        )

    user = fleet.inspect("opsportal-web")["Config"]["User"]
    checks.record(user == "opsportal", f"the container runs as user {user!r}")

    def docker_health():
        state = fleet.inspect("opsportal-web")["State"]
        return state.get("Health", {}).get("Status") == "healthy" and state["Health"]

    started = time.monotonic()
    docker_state = wait_for("Docker's HEALTHCHECK to report the web container healthy", docker_health, timeout=60)
    checks.record(
        True,
        f"Docker HEALTHCHECK: healthy {time.monotonic() - started:.0f} s later "
        f"(last probe exit {docker_state['Log'][-1]['ExitCode']})",
    )

    # kamal-proxy's own health check: GET <path> on the container, Host = the container id, no token.
    up = httpx.get(f"{base}/up", headers={"Host": f"{web_id[:12]}:{port}"})
    figures["proxy_healthcheck"] = f"GET /up with Host {web_id[:12]}:{port} (as kamal-proxy sends it): {up.status_code}"
    say(f"  note  {figures['proxy_healthcheck']} (see docs/deploy.md: not served yet)")

    # Worker and beat. The folder broker keeps its fanout table in ./control, relative to the working
    # directory, and /app belongs to root: these two start in the data volume (see docs/deploy.md).
    # First, what happens in /app (with Redis, the production broker, there is no such folder).
    fleet.start("opsportal-worker-in-app", ["worker"])
    wait_for(
        "a worker in /app to be ready or fail",
        lambda: (
            any(word in fleet.logs_of("opsportal-worker-in-app") for word in ("ready.", "Error"))
            or _stopped(fleet, "opsportal-worker-in-app")
        ),
        timeout=90,
    )
    time.sleep(2)
    in_app = fleet.logs_of("opsportal-worker-in-app")
    error = re.findall(r"^\w*Error: .*$", in_app, flags=re.M)
    figures["worker_in_app"] = "ready" if "ready." in in_app and not error else (error[-1] if error else "stopped")
    say(f"  note  a worker with the folder broker in the image's working dir /app: {figures['worker_in_app']}")
    fleet.remove("opsportal-worker-in-app")

    say("worker role")
    started = time.monotonic()
    fleet.start("opsportal-worker", ["worker"], working_dir=DATA)
    wait_for(
        "the worker to be ready",
        lambda: "ready." in fleet.logs_of("opsportal-worker") or _stopped(fleet, "opsportal-worker"),
        timeout=90,
    )
    figures["worker_ready"] = time.monotonic() - started
    worker_log = fleet.logs_of("opsportal-worker")
    connected = re.search(r"Connected to (\S+)", worker_log)
    checks.record(
        "ready." in worker_log and connected is not None,
        f"celery worker ready after {figures['worker_ready']:.1f} s, connected to "
        f"{connected.group(1) if connected else '?'}",
    )

    say("beat role")
    started = time.monotonic()
    fleet.start("opsportal-beat", ["beat"], working_dir=DATA)

    def jobs_ran():
        _stopped(fleet, "opsportal-beat", fail=True)
        workers = httpx.get(f"{base}/api/ops/plannings", headers=health_headers).json()["workers"]
        return workers if "unknown" not in workers.values() and "starting" not in workers.values() else None

    workers = wait_for("beat's first tasks to run on the worker", jobs_ran, timeout=90, interval=1)
    figures["beat_to_jobs"] = time.monotonic() - started
    checks.record(
        True,
        f"beat -> folder broker -> worker -> database -> web: workers {workers} "
        f"{figures['beat_to_jobs']:.1f} s after beat started",
    )
    worker_health = wait_for(
        "the worker's Docker health",
        lambda: fleet.inspect("opsportal-worker")["State"].get("Health", {}).get("Status") == "healthy",
        timeout=60,
    )
    checks.record(bool(worker_health), "Docker HEALTHCHECK of the worker container (no HTTP server): healthy")


def _run_redis_roles(fleet: Fleet, redis_url: str, figures: dict, checks: Checks) -> None:
    """Worker, beat and web again, on a Redis broker: a private redis-server on the host's loopback."""
    for name in ("opsportal-worker", "opsportal-beat"):  # the folder broker's
        fleet.remove(name)
    port = free_port()
    on_redis = {"CELERY_BROKER_URL": redis_url, "PORT": str(port)}

    started = time.monotonic()
    fleet.start("opsportal-worker-redis", ["worker"], env=on_redis)  # the image's WORKDIR, /app
    wait_for(
        "the worker on Redis to be ready",
        lambda: "ready." in fleet.logs_of("opsportal-worker-redis") or _stopped(fleet, "opsportal-worker-redis", True),
        timeout=90,
    )
    figures["worker_redis_ready"] = time.monotonic() - started
    connected = re.search(r"Connected to (redis://\S+)", fleet.logs_of("opsportal-worker-redis"))
    checks.record(
        connected is not None,
        f"celery worker in /app on Redis ready after {figures['worker_redis_ready']:.1f} s, connected to "
        f"{connected.group(1) if connected else '?'}",
    )

    # Job accounting goes to the broker's Redis: the count of tasks the worker finished.
    counts = redis.Redis.from_url(redis_url)

    def processed() -> int:
        return int(counts.hget(f"{ACCOUNTING_PREFIX}:celery:total", "processed") or 0)

    started = time.monotonic()
    fleet.start("opsportal-beat-redis", ["beat"], env=on_redis)
    first = wait_for(
        "beat's tasks to run on the worker through Redis",
        lambda: (not _stopped(fleet, "opsportal-beat-redis", True) and processed()) or None,
        timeout=90,
        interval=0.5,
    )
    figures["beat_redis_to_jobs"] = time.monotonic() - started
    time.sleep(5)
    later = processed()
    checks.record(
        later > first,
        f"beat -> Redis -> worker: first task counted {figures['beat_redis_to_jobs']:.1f} s after beat started, "
        f"{first} then {later} five seconds later (beat's refresh tick, every second)",
    )

    # /queues on a web container with the same broker, read with a token made the documented way.
    fleet.start("opsportal-token", ["python", "manage.py", "create_api_token", "--name", "image-check"])
    status = fleet.wait("opsportal-token", timeout=120)
    secret = fleet.logs_of("opsportal-token", stderr=False).strip().splitlines()[-1:] or [""]
    if not checks.record(status == 0 and secret[0].startswith("wo_"), f"create_api_token exited {status}"):
        return
    fleet.start("opsportal-web-redis", env=on_redis)
    headers = {"Host": SITE, "X-Forwarded-Proto": "https", "Authorization": f"Bearer {secret[0]}"}

    def queues():
        _stopped(fleet, "opsportal-web-redis", fail=True)
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/api/v1/admin/ops/queues", headers=headers, timeout=5)
        except httpx.HTTPError:
            return None
        return response

    response = wait_for("the web on Redis to answer /queues", queues, timeout=90)
    rows = response.json().get("queues", []) if response.status_code == 200 else []
    celery = next((row for row in rows if row["name"] == "celery"), {})
    checks.record(
        isinstance(celery.get("depth"), int) and (celery.get("processed_per_sec") or 0) > 0,
        f"GET /api/v1/admin/ops/queues with a Bearer token: {response.status_code}, celery queue {celery}",
    )


def _stopped(fleet: Fleet, name: str, fail: bool = False) -> bool:
    if fleet.inspect(name)["State"]["Status"] == "running":
        return False
    if fail:
        raise CheckFailed(f"{name} stopped:\n{fleet.logs_of(name)[-2000:]}")
    return True


def _unmount_leftovers(root: Path) -> None:
    """dockerd can leave its default network namespace mounted under its exec root; unmount, remove."""
    prefix = str(root) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mountpoint in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False)
    shutil.rmtree(root, ignore_errors=True)


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh-rootfs", action="store_true", help="debootstrap again instead of the cached rootfs")
    parser.add_argument("--keep", action="store_true", help="leave the private engine running, and say where")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("image-check needs root (debootstrap and dockerd)")
        return 2
    os.nice(10)  # shared machine: the build yields to interactive work

    figures: dict = {}
    checks = Checks()
    say("1. Debian bookworm base (debootstrap, cached)")
    rootfs, debootstrap_seconds = bookworm_rootfs(args.fresh_rootfs)
    say(
        f"  {rootfs}: "
        + (f"debootstrapped in {debootstrap_seconds:.0f} s" if debootstrap_seconds is not None else "cached")
    )
    shape_like_slim(rootfs)
    extra = site_trust(rootfs)
    if extra:
        say(f"  this machine's extra CA certificates added to the base for the build's pip: {', '.join(extra)}")

    engine = PrivateDocker()
    engine.start()
    say(f"2. private dockerd on {engine.url}")
    client = docker.APIClient(base_url=engine.url, version="1.41", timeout=600)
    try:
        figures["import"] = import_base(client, rootfs)
        base_size = client.inspect_image(f"{BASE[0]}:{BASE[1]}")["Size"]
        say(f"  imported {BASE[0]}:{BASE[1]} ({megabytes(base_size)}) in {figures['import']:.0f} s")

        files, size = context_size()
        say(f"3. docker build --build-arg BASE_IMAGE={BASE[0]}:{BASE[1]} (context: {files} files, {megabytes(size)})")
        figures["build"] = build(client, CACHE / "build.log")
        image = client.inspect_image(IMAGE)
        figures["size"] = image["Size"]
        config = image["Config"]
        say(f"  built {IMAGE} in {figures['build']:.0f} s: {megabytes(figures['size'])}")
        layers = sorted(client.history(IMAGE), key=lambda layer: layer["Size"], reverse=True)[:4]
        for layer in layers:
            created = re.sub(r"\s+", " ", layer["CreatedBy"].replace("/bin/sh -c ", ""))[:70]
            say(f"    {megabytes(layer['Size']):>7}  {created}")
        say(
            f"  user {config['User']!r}, entrypoint {config['Entrypoint']}, cmd {config['Cmd']}, "
            f"healthcheck {config['Healthcheck']['Test']}"
        )

        say("4. the roles, with DJANGO_ENV=production, SQLite and a folder broker on one volume, then Redis")
        try:
            run_roles(client, figures, checks)
        except CheckFailed as failure:
            checks.record(False, str(failure))
    except CheckFailed as failure:
        checks.record(False, str(failure))
    finally:
        client.close()
        if args.keep:
            say(f"engine kept: DOCKER_HOST={engine.url} (stop: kill {engine.process.pid}; data in {engine.root})")
        else:
            root = engine.root
            engine.destroy()
            _unmount_leftovers(root)

    say("5. figures")
    if debootstrap_seconds is not None:
        say(f"  debootstrap (bookworm minbase): {debootstrap_seconds:.0f} s")
    for key, label, unit in (
        ("import", "base import", "s"),
        ("build", "image build (no cache)", "s"),
        ("size", "image size", "MB"),
        ("migrate", "migrate in a one-off container", "s"),
        ("web_start", "web: container start to health 200", "s"),
        ("worker_ready", "worker: container start to ready", "s"),
        ("beat_to_jobs", "beat: start to jobs run and reported", "s"),
        ("worker_redis_ready", "worker on Redis: container start to ready", "s"),
        ("beat_redis_to_jobs", "beat on Redis: start to the first task counted", "s"),
    ):
        if key in figures:
            value = megabytes(figures[key]) if unit == "MB" else f"{figures[key]:.1f} s"
            say(f"  {label}: {value}")
    if "proxy_healthcheck" in figures:
        say(f"  kamal-proxy style health check: {figures['proxy_healthcheck']}")
    (CACHE / "last-result.json").write_text(
        json.dumps({"figures": figures, "checks": checks.results}, indent=2, default=str) + "\n"
    )
    say(f"{len(checks.results) - checks.failed} checks passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServerUnavailable as missing:
        print(f"image-check: {missing}", file=sys.stderr)
        sys.exit(2)
