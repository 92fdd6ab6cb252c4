"""A rule's condition over one target's facts, with the rule's thresholds: ``(bad, message)``. Pure."""

from __future__ import annotations

from opsportal.alerts.models import Rule
from opsportal.alerts.observe import ENGINE_PREFIX, FEEDS_CATALOG
from opsportal.lib.health_status import status_rank

Kind = Rule.Kind


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _plannings(rule: Rule, facts: dict) -> tuple[bool, str]:
    bad = status_rank(facts["status"]) >= status_rank(rule.threshold("status"))
    issues = "; ".join(facts["issues"]) or "no issues"
    return bad, f"plannings health is {facts['status']}: {issues}"


def _container(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if target.startswith(ENGINE_PREFIX):
        names = ", ".join(facts["containers"]) or "no containers seen on it yet"
        state = "unreachable" if facts["down"] else "reachable"
        return facts["down"], f"Docker {target} is {state}; its containers: {names}"
    problems = []
    if rule.threshold("stopped") and facts["status"] not in ("running", "restarting"):
        problems.append(f"stopped ({facts['status']})")
    if rule.threshold("restarting") and (facts["status"] == "restarting" or facts["restarted"]):
        problems.append(f"restarting (restart count {facts['restarts']})")
    if rule.threshold("unhealthy") and facts["health"] == "unhealthy":
        problems.append("Docker health unhealthy")
    where = f"{facts['env']}, {facts['role']}, on {facts['engine']}"
    return bool(problems), f"{target} ({where}): {', '.join(problems) or 'running'}"


def _host(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if target == "prometheus":
        hosts = ", ".join(facts["hosts"]) or "no hosts seen yet"
        if facts["down"]:
            return True, f"Prometheus is unreachable ({facts['error']}); host figures unknown for: {hosts}"
        return False, "Prometheus answers"
    over = [
        f"{name} {_pct(facts[name])} ≥ {_pct(rule.threshold(name))}"
        for name in ("cpu", "mem")
        if facts[name] is not None and facts[name] >= rule.threshold(name)
    ]
    figures = ", ".join(f"{name} {_pct(facts[name])}" for name in ("cpu", "mem") if facts[name] is not None)
    return bool(over), f"host {target}: " + (", ".join(over) if over else figures or "no figures")


def _not_falling(facts: dict, window: float) -> bool:
    """Watched for the whole window and some depth within it is at or below the depth now: the queue
    has not fallen below where it stood (``depth_low_ages`` keeps only depths at or below now)."""
    if facts["watched_seconds"] < window:
        return False
    return any(0 < age <= window for age, _ in facts["depth_low_ages"])


def _queue(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    """Not draining: deeper than ``depth`` and not fallen for ``not_falling_seconds``, or the oldest
    ready item older than ``oldest_seconds`` (0: off); or over ``failures_last_hour``."""
    if target == "broker":
        return facts["down"], "the broker is unreachable" if facts["down"] else "the broker answers"
    over = []
    depth, limit, window = facts["depth"], rule.threshold("depth"), rule.threshold("not_falling_seconds")
    if depth is not None and depth > limit and _not_falling(facts, window):
        over.append(f"depth {depth} > {limit}, not falling for {_duration(window)}")
    oldest, age_limit = facts.get("oldest_age"), rule.threshold("oldest_seconds")
    if age_limit and oldest is not None and oldest > age_limit:
        over.append(f"oldest ready item waiting {_duration(oldest)} > {_duration(age_limit)}")
    failures = facts["failures_last_hour"]
    if failures is not None and failures > rule.threshold("failures_last_hour"):
        over.append(f"{failures} failures in the last hour > {rule.threshold('failures_last_hour')}")
    return bool(over), f"queue {target}: " + (", ".join(over) or f"depth {depth}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _feeds(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    """A host: over ``host_share`` of its feeds failing, with at least ``host_min_failing`` failing (one
    feed of three is no outage). The catalog: over ``catalog_share`` failing, the backups covered fallen
    by over ``covered_drop`` from their highest within the hour, or the newest backup older than
    ``backup_age_seconds`` (0: not watched)."""
    feeds, failing = facts["feeds"], facts["failing"]
    share = _share(failing, feeds)
    figures = f"{failing} of {feeds} feeds failing ({_pct(share)})"
    if target != FEEDS_CATALOG:
        bad = share > rule.threshold("host_share") and failing >= rule.threshold("host_min_failing")
        return bad, f"{target}: {figures}" + (f" > {_pct(rule.threshold('host_share'))}" if bad else "")
    problems = []
    if share > rule.threshold("catalog_share"):
        problems.append(f"{figures} > {_pct(rule.threshold('catalog_share'))}")
    covered, peak = facts["covered"], facts["covered_peak"]
    drop = _share(peak - covered, peak)
    if drop > rule.threshold("covered_drop"):
        problems.append(
            f"backups covered fell to {covered} from {peak} within the hour (-{_pct(drop)}) "
            f"> {_pct(rule.threshold('covered_drop'))}"
        )
    limit, age = rule.threshold("backup_age_seconds"), facts["newest_backup_age"]
    if limit and feeds:
        if age is None:
            problems.append("no backup written yet")
        elif age > limit:
            problems.append(f"newest backup {_duration(age)} old > {_duration(limit)}")
    return bool(problems), "catalog: " + ("; ".join(problems) or f"{figures}, {covered} backups covered")


def _deploy_lock(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if not facts["held"]:
        return False, f"{target}: not held"
    limit, age = rule.threshold("max_seconds"), facts["age_seconds"]
    who = f"held by {facts['holder'] or 'someone'} on {facts['host']}"
    what = f"version {facts['version'] or '?'}: {facts['message'] or 'no message'}"
    if age is None:
        return False, f"{target}: {who}, since an unknown time ({what})"
    return age > limit, f"{target}: {who} for {_duration(age)} ({what})" + (
        f" > {_duration(limit)}" if age > limit else ""
    )


def _drift(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    problems = facts["problems"]
    return bool(problems), f"{target}: " + ("; ".join(problems) or "every host runs the same version")


def condition(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if rule.kind == Kind.DEPLOY_LOCK:
        return _deploy_lock(rule, target, facts)
    if rule.kind == Kind.DRIFT:
        return _drift(rule, target, facts)
    if rule.kind == Kind.PLANNINGS_HEALTH:
        return _plannings(rule, facts)
    if rule.kind == Kind.CONTAINER:
        return _container(rule, target, facts)
    if rule.kind == Kind.HOST:
        return _host(rule, target, facts)
    if rule.kind == Kind.QUEUE:
        return _queue(rule, target, facts)
    if rule.kind == Kind.FEEDS:
        return _feeds(rule, target, facts)
    raise ValueError(f"no condition for {rule.kind}")
