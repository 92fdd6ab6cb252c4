"""What each rule kind watches, read once per pass from both apps: facts per target, no judgement.

A rule turns facts into a condition (``conditions.py``) with its own thresholds. A target whose
source could not be read this pass is *unknown*: its open alert neither fires nor resolves, and one
alert names the source instead (grouping: one engine down is one alert naming its containers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from opsportal import queues
from opsportal.alerts.models import NOT_FALLING_MAX_SECONDS
from plannings import selectors as plannings_selectors
from plannings.health import health_report
from plannings.selectors import runner_queues
from walletops import containers, hosts
from walletops import deploy_info as deploy_files
from walletops.deploys import drift as deploy_drift
from walletops.deploys import reading as deploy_reading
from walletops.deploys import timeline as deploy_timeline
from walletops.exceptions import DeployInfoInvalid, DeployInfoMissing, PrometheusUnavailable

ENGINE_PREFIX = "engine "
FEEDS_HOST_PREFIX = "host "  # a feeds target per host ("host iut-de-vannes"), beside the one "catalog"
FEEDS_CATALOG = "catalog"
COVERED_WINDOW = timedelta(hours=1)  # backups covered are compared with their highest count within this


@dataclass
class Observed:
    facts: dict[str, dict] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)


def plannings_observe(*, now: datetime, memory: dict) -> Observed:
    report = health_report(now=now)
    return Observed(facts={"plannings": {"status": report.status, "issues": list(report.issues)}})


def feeds_observe(*, now: datetime, memory: dict) -> Observed:
    """Feeds failing per host and for the whole catalog, with the backups' coverage and age: three
    statements whatever the number of hosts (the per-host shares come from one grouped read).

    The highest count of backups covered within ``COVERED_WINDOW`` is remembered between passes, so a
    fall shows as a share of it; once the window has passed the new level is the baseline."""
    failing = plannings_selectors.failing_feeds()
    covered = plannings_selectors.coverage_figures(
        now=now, max_attempts=settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    ).covered
    newest = plannings_selectors.newest_backup_at()
    # Only the samples that can still be a window's highest: within it, and above the count now (an older
    # one at or below it never will be again). So the list stays short, falling, and its first is the peak.
    since = now - COVERED_WINDOW
    samples = [
        [at, count]
        for at, count in memory.get("feeds_covered", [])
        if datetime.fromisoformat(at) > since and count > covered
    ]
    samples.append([now.isoformat(), covered])
    memory["feeds_covered"] = samples
    facts: dict[str, dict] = {
        FEEDS_CATALOG: {
            "feeds": failing.feeds,
            "failing": failing.failing,
            "covered": covered,
            "covered_peak": samples[0][1],
            "newest_backup_age": None if newest is None else (now - newest).total_seconds(),
        }
    }
    for host in failing.by_host:
        facts[f"{FEEDS_HOST_PREFIX}{host.host}"] = {"feeds": host.feeds, "failing": host.failing}
    return Observed(facts=facts)


def containers_observe(*, now: datetime, memory: dict) -> Observed:
    """Each managed container's status, health and restarts; an engine that does not answer is one
    target (``engine <host>``) naming the containers last seen on it, which are unknown this pass."""
    hosts_watched = containers.engine_hosts(settings.WALLETOPS_ENVS)
    seen_now, missing = containers.containers_seen(envs=settings.WALLETOPS_ENVS, include_accessories=False)
    known = memory.setdefault("engines", {})  # engine host -> container names last seen on it
    restarts = memory.setdefault("restarts", {})
    observed = Observed()
    seen: dict[str, list[str]] = {}
    for item in seen_now:
        view, host = item.view, item.engine_host
        seen.setdefault(host, []).append(item.found.name)
        before = restarts.get(item.found.name)
        restarts[item.found.name] = view["restarts"]
        observed.facts[item.found.name] = {
            "status": view["status"],
            "health": view["health"],
            "restarted": before is not None and view["restarts"] > before,
            "restarts": view["restarts"],
            "env": view["env"],
            "role": view["role"],
            "engine": host,
            "service": True,  # managed containers only (no accessories): deploys hold them back
        }
    for host in dict.fromkeys(missing):
        names = known.get(host, [])
        observed.facts[f"{ENGINE_PREFIX}{host}"] = {"down": True, "containers": names}
        observed.unknown.update(names)
    for host in hosts_watched:
        if host not in missing:
            known[host] = sorted(seen.get(host, []))  # an engine that answered: what it runs now, maybe nothing
            # An engine that answered is a target too, so its "down" alert resolves.
            observed.facts.setdefault(f"{ENGINE_PREFIX}{host}", {"down": False, "containers": known.get(host, [])})
    live = set(observed.facts) | observed.unknown
    for name in [n for n in restarts if n not in live]:
        del restarts[name]  # removed containers (old versions): the memory stays the fleet's size
    return observed


def hosts_observe(*, now: datetime, memory: dict) -> Observed:
    known = memory.setdefault("hosts", [])
    try:
        report = hosts.hosts_report()
    except PrometheusUnavailable as exc:
        return Observed(facts={"prometheus": {"down": True, "hosts": known, "error": str(exc)}}, unknown=set(known))
    # A host is its node name; two exporters reporting one name (containers, clones) keep their instance too.
    repeated = {name for name in (row["name"] for row in report["hosts"]) if name}
    repeated = {name for name in repeated if sum(row["name"] == name for row in report["hosts"]) > 1}
    names = [
        f"{row['name']} ({row['instance']})" if row["name"] in repeated else row["name"] for row in report["hosts"]
    ]
    memory["hosts"] = names
    facts = {"prometheus": {"down": False, "hosts": names, "error": ""}}
    for name, row in zip(names, report["hosts"], strict=True):
        facts[name] = {"cpu": row["cpu_util"], "mem": row["mem_util"]}
    return Observed(facts=facts)


def _depth_memory(remembered: dict | None, *, now: datetime, depth: int) -> dict:
    """One queue's depths, kept only while they can still be a window's lowest: within
    ``NOT_FALLING_MAX_SECONDS`` and below the depth now (an older one above it never will be again). So the
    list stays short and rising, its last entry is now, and a queue that fell since every remembered
    depth keeps only that one. ``since``: when the queue was first seen (with a depth) without a gap."""
    remembered = remembered or {"since": now.isoformat(), "depths": []}
    cutoff = now - timedelta(seconds=NOT_FALLING_MAX_SECONDS)
    kept = [
        [at, count] for at, count in remembered["depths"] if datetime.fromisoformat(at) >= cutoff and count <= depth
    ]
    return {"since": remembered["since"], "depths": [*kept, [now.isoformat(), depth]]}


def queues_observe(*, now: datetime, memory: dict) -> Observed:
    """Each queue's depth, failures, and what tells a queue that is not draining: for how long it has
    been watched, its remembered depths (``depth_low_ages``: [seconds ago, depth], rising) and, for the
    runner queues, how long the oldest ready row has waited. A broker queue cannot tell the age of its
    oldest message (Redis and RabbitMQ give a count), so only its depth trend is watched."""
    runners = runner_queues(now=now)  # read here: the rule wants each runner queue's oldest ready row too
    report = queues.queues_report(partial=True, runners=runners)
    broker_down = "broker" in report["missing"]
    facts = {"broker": {"down": broker_down}}
    unknown = set()
    remembered = memory.get("queue_depths", {})
    depths: dict[str, dict] = {}
    for row in report["queues"]:
        if row["depth"] is None and broker_down:
            unknown.add(row["name"])
            if row["name"] in remembered:
                depths[row["name"]] = remembered[row["name"]]  # unknown for now: the trend so far stands
            continue
        watched = None
        if row["depth"] is not None:
            depths[row["name"]] = kept = _depth_memory(remembered.get(row["name"]), now=now, depth=row["depth"])
            watched = {
                "watched_seconds": (now - datetime.fromisoformat(kept["since"])).total_seconds(),
                "depth_low_ages": [
                    [(now - datetime.fromisoformat(at)).total_seconds(), count] for at, count in kept["depths"]
                ],
            }
        oldest = runners[row["name"]].oldest_ready_at if row["name"] in runners else None
        facts[row["name"]] = {
            "depth": row["depth"],
            "failures_last_hour": row["failures_last_hour"],
            "oldest_age": None if oldest is None else max(0.0, (now - oldest).total_seconds()),
            **(watched or {"watched_seconds": 0.0, "depth_low_ages": []}),
        }
    memory["queue_depths"] = depths  # queues no longer reported are forgotten: the memory stays their number
    return Observed(facts=facts, unknown=unknown)


@dataclass(frozen=True)
class Deploy:
    in_progress: bool
    changed: dict | None  # the new deploy info when it changed since the last pass (the first pass only remembers)
    previous: dict | None
    why: str = ""  # what says a Kamal deploy is in progress (its lock, or a pre-deploy without its post-deploy)


def deploy_observe(*, now: datetime, memory: dict) -> Deploy:
    """Whether a deploy is in progress (the lock file exists, or deploy_info.json changed within the
    window) and whether the deploy info changed since the last pass."""
    lock = settings.OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH
    locked = bool(lock) and Path(lock).exists()
    window = timedelta(seconds=settings.OPSPORTAL_ALERTS_DEPLOY_WINDOW_SECONDS)
    try:
        info = deploy_files.deploy_info_read()
    except (DeployInfoMissing, DeployInfoInvalid):
        info = None
    before = memory.get("deploy")
    changed = None
    if info is not None:
        if before is not None and (before.get("current_tag"), before.get("deployed_at")) != (
            info["current_tag"],
            info["deployed_at"],
        ):
            changed = info
            memory["deploy_seen_at"] = now.isoformat()
        memory["deploy"] = info
    recent = False
    if info is not None:
        deployed_at = datetime.fromisoformat(info["deployed_at"].replace("Z", "+00:00"))
        recent = deployed_at.tzinfo is not None and now - deployed_at < window
    if seen := memory.get("deploy_seen_at"):
        recent = recent or now - datetime.fromisoformat(seen) < window
    # Kamal's own lock, and the hook's pre-deploy event until its post-deploy (walletops.deploys).
    kamal = deploy_timeline.deploy_in_progress(
        service=settings.WALLETOPS_SERVICE,
        now=now,
        hold_max=timedelta(seconds=settings.WALLETOPS_DEPLOY_HOLD_MAX_SECONDS),
    )
    return Deploy(in_progress=locked or recent or bool(kamal), changed=changed, previous=before, why=kamal)


LOCK_PREFIX = "lock "
DRIFT_PREFIX = "drift "


def deploy_locks_observe(*, now: datetime, memory: dict) -> Observed:
    """Each destination's Kamal deploy lock (``lock <destination>``; ``lock -`` without one): held or not."""
    observed = Observed()
    for destination in settings.WALLETOPS_ENVS:
        observed.facts[f"{LOCK_PREFIX}{destination}"] = {"held": False}
    for lock in deploy_reading.locks_held(service=settings.WALLETOPS_SERVICE):
        observed.facts[f"{LOCK_PREFIX}{lock.destination or '-'}"] = {
            "held": True, "host": lock.host, "holder": lock.holder, "age_seconds": lock.age_seconds(now),
            "version": lock.version, "message": lock.message,
        }  # fmt: skip
    return observed


def drift_observe(*, now: datetime, memory: dict) -> Observed:
    """Each role's drift across the hosts of each destination (``drift <destination>/<role>``)."""
    observed = Observed()
    deploy_reading.audit_files_refresh(service=settings.WALLETOPS_SERVICE)  # the newest deploy's version
    for destination in settings.WALLETOPS_ENVS:
        report = deploy_drift.drift_report(service=settings.WALLETOPS_SERVICE, destination=destination)
        for role in report["roles"]:
            observed.facts[f"{DRIFT_PREFIX}{destination}/{role['role']}"] = {"problems": role["problems"]}
        if report["missing_hosts"]:
            # An engine that did not answer: what it runs is unknown, so its roles' drift is not judged.
            observed.unknown.update(t for t in observed.facts if t.startswith(f"{DRIFT_PREFIX}{destination}/"))
    return observed
