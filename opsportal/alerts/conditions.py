"""A rule's condition over one target's facts, with the rule's thresholds: ``(bad, message)``. Pure."""

from __future__ import annotations

from opsportal.alerts.models import Rule
from opsportal.alerts.observe import ENGINE_PREFIX

Kind = Rule.Kind


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _plannings(rule: Rule, facts: dict) -> tuple[bool, str]:
    rank = Rule.HEALTH_STATUSES.index
    bad = rank(facts["status"]) >= rank(rule.threshold("status"))
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


def _queue(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if target == "broker":
        return facts["down"], "the broker is unreachable" if facts["down"] else "the broker answers"
    over = []
    if facts["depth"] is not None and facts["depth"] > rule.threshold("depth"):
        over.append(f"depth {facts['depth']} > {rule.threshold('depth')}")
    failures = facts["failures_last_hour"]
    if failures is not None and failures > rule.threshold("failures_last_hour"):
        over.append(f"{failures} failures in the last hour > {rule.threshold('failures_last_hour')}")
    return bool(over), f"queue {target}: " + (", ".join(over) or f"depth {facts['depth']}")


def condition(rule: Rule, target: str, facts: dict) -> tuple[bool, str]:
    if rule.kind == Kind.PLANNINGS_HEALTH:
        return _plannings(rule, facts)
    if rule.kind == Kind.CONTAINER:
        return _container(rule, target, facts)
    if rule.kind == Kind.HOST:
        return _host(rule, target, facts)
    if rule.kind == Kind.QUEUE:
        return _queue(rule, target, facts)
    raise ValueError(f"no condition for {rule.kind}")
