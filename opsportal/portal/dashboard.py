"""The operations dashboard's panels: each built on its own, so one system being down costs one panel.

Every panel is a function returning a ``Panel``; the page and the polling fragment
both call ``panel_build``, which turns the documented outage errors (Docker,
Prometheus, broker, deploy info, the database) into a message for that panel only.
The figures come from the same modules the REST API serves: one code path.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from opsportal import queues
from opsportal.alerts.models import Rule
from opsportal.alerts.selectors import portal_verdict
from opsportal.lib import accounting
from opsportal.portal import charts
from plannings import health, history, selectors
from walletops import containers, deploy_info, hosts
from walletops.deploys import drift as deploy_drift
from walletops.deploys import reading as deploy_reading
from walletops.deploys.formats import held_for
from walletops.exceptions import Missing, WalletOpsError

logger = logging.getLogger(__name__)

PANELS = ("plannings", "history", "containers", "queues", "hosts", "deploy")


@dataclass(frozen=True)
class Setup:
    """What an operator sets so a panel's outside system answers: shown with the panel's error."""

    setting: str
    what: str
    anchor: str = "configuration"  # a section of docs/configuration.md (served at /admin/ops/docs/configuration/)


SETUP = {
    "containers": Setup(
        "WALLETOPS_DOCKER_HOSTS",
        "the Docker engine of each env (unix://, tcp:// or ssh:// URLs); unset, every env uses the local engine "
        "(DOCKER_HOST, else /var/run/docker.sock)",
    ),
    "hosts": Setup("WALLET_CORE_OPS_PROMETHEUS_URL", "a Prometheus that scrapes the hosts' node exporters"),
    "deploy": Setup("WALLETOPS_DEPLOY_INFO_PATH", "the deploy_info.json that wallet-core's post-deploy hook writes"),
}


@dataclass
class Panel:
    name: str
    data: dict = field(default_factory=dict)
    error: str = ""
    # "down" for an outage of the system behind the panel, "missing" for absent data (no deploy yet),
    # "internal" for the panel's own failure.
    error_kind: str = ""

    @property
    def setup(self) -> Setup | None:
        """How to make an outside system answer, for a panel that failed for want of it."""
        return SETUP.get(self.name) if self.error and self.error_kind in ("down", "missing") else None


FAILING_HOSTS_SHOWN = 5
# The rules whose open alerts make the plannings panel's verdict.
PLANNINGS_RULE_KINDS = (Rule.Kind.PLANNINGS_HEALTH, Rule.Kind.FEEDS)


def _plannings() -> dict:
    """The portal's verdict on the plannings, and beside it, under its own name, the API's status.

    The verdict is the worst open alert of the plannings' rules (the health rule and the feeds
    rule, which watches the failing feeds per host and for the catalog). The API's status keeps
    upstream's rule (only disabled rows count), so "healthy" can stand there while many feeds fail
    and retry: it is labelled as the API's, and the failure figures are shown with it. Two grouped
    statements on top of health's five, and the verdict's three.
    """
    now = timezone.now()
    runtimes, shared = selectors.job_runtimes(), selectors.jobs_shared_state()
    report = health.health_report(now=now, runtimes=runtimes, shared=shared)
    failing = selectors.failing_feeds()
    return {
        "report": report,
        "verdict": portal_verdict(now=now, kinds=PLANNINGS_RULE_KINDS),
        "jobs": selectors.jobs_shown(shared=shared, runtimes=runtimes, now=now),  # as the Jobs page shows them
        "shared": shared,
        "failing": failing,
        "failing_hosts": failing.failing_hosts[:FAILING_HOSTS_SHOWN],
        "failing_hosts_more": max(0, len(failing.failing_hosts) - FAILING_HOSTS_SHOWN),
        "failures_by_kind": selectors.failures_by_kind(now=now),
    }


def _history(*, range_key: str | None = None) -> dict:
    """The history chart of ``?range=`` (1h, 6h, 24h, 7d); without one, or with an unknown one, the default.

    The default is the shortest range that holds the recorded history (at most 24 h), read
    from the same statement as the chart: a new install's first hour fills its chart.
    An unknown value falls back to the default and says so, as ``?every=`` falls back.
    """
    now = timezone.now()
    chosen = charts.RANGES.get(range_key or "")
    window = chosen.window if chosen else charts.RANGES[charts.LONGEST_DEFAULT].window
    snapshots = history.health_history(now=now, window=window)
    shown = chosen or charts.range_default(snapshots, now=now)
    return {
        "history": charts.history_chart(snapshots, now=now, history_range=shown),
        "ranges": list(charts.RANGES.values()),
        "range": shown,
        "range_chosen": chosen is not None,
        "range_invalid": range_key if range_key and chosen is None else "",
    }


def _containers() -> dict:
    views, missing = containers.containers_list(
        envs=list(settings.WALLETOPS_ENVS), include_accessories=True, include_stats=False
    )
    envs = []
    for env in settings.WALLETOPS_ENVS:
        mine = [view for view in views if view["env"] == env]
        statuses = Counter(view["status"] for view in mine)
        envs.append(
            {
                "env": env,
                "total": len(mine),
                "running": statuses["running"],
                "restarting": statuses["restarting"],
                "stopped": len(mine) - statuses["running"] - statuses["restarting"],
                "unhealthy": sum(1 for view in mine if view["health"] == "unhealthy"),
            }
        )
    return {"envs": envs, "missing_hosts": missing}


def _queues() -> dict:
    report = queues.queues_report(partial=True)
    # Accounting switched off is a setting to tell the operator about, not a source that failed to answer.
    accounting_off = not accounting.accounting_enabled()
    unreadable = [part for part in report["missing"] if not (part == "accounting" and accounting_off)]
    return {**report, "accounting_off": accounting_off, "unreadable": unreadable}


def _hosts() -> dict:
    report = hosts.hosts_report()
    thresholds_pct = {key: round(value * 100) for key, value in report["thresholds"].items()}

    def bars(host: dict) -> list[tuple[float | None, int]]:
        # (percent used, alert threshold in percent) per bar: CPU, then memory.
        return [
            (None if host[util] is None else round(host[util] * 100, 1), thresholds_pct[key])
            for util, key in (("cpu_util", "cpu"), ("mem_util", "mem"))
        ]

    return {
        **report,
        "thresholds_pct": thresholds_pct,
        "hosts": [{**host, "bars": bars(host)} for host in report["hosts"]],
    }


@dataclass(frozen=True)
class Part:
    """One read of a panel that shows several sources: its value, or why it failed (as a panel's error)."""

    value: object = None
    error: str = ""
    error_kind: str = ""


def _part(name: str, read) -> Part:
    try:
        return Part(read())
    except Exception as exc:  # noqa: BLE001 (sorted by _failure: a bug is logged with its traceback)
        return Part(None, *_failure(name, exc))


def _deploy_locks() -> list[dict]:
    now = timezone.now()
    return [
        {"host": lock.host, "destination": lock.destination or "-", "holder": lock.holder or "(unreadable)",
         "age": held_for(lock.age_seconds(now)), "version": lock.version}
        for lock in deploy_reading.locks_held()
    ]  # fmt: skip


def _deploy_drift() -> dict:
    drifting, unknown = [], []
    for destination in settings.WALLETOPS_ENVS:
        report = deploy_drift.drift_report(service=settings.WALLETOPS_SERVICE, destination=destination)
        drifting += [f"{destination}/{role['role']}: {'; '.join(role['problems'])}" for role in report["roles"]
                     if role["drifting"]]  # fmt: skip
        if report["missing_hosts"]:
            unknown.append(f"{destination} ({', '.join(report['missing_hosts'])} did not answer)")
    return {"drifting": drifting, "unknown": unknown}


def _deploy() -> dict:
    """deploy_info.json, and at a glance Kamal's lock (held by, for how long) and each destination's drift: each
    read on its own, so a missing deploy_info.json (no post-deploy hook run yet) still shows the lock and drift."""
    info = _part("deploy", deploy_info.deploy_info_read)
    locks = _part("deploy lock", _deploy_locks)
    drift = _part("drift", _deploy_drift)
    return {
        "info": info.value, "info_error": info.error, "info_error_kind": info.error_kind,
        "info_setup": SETUP["deploy"] if info.error_kind in ("down", "missing") else None,
        "locks": locks.value or [], "locks_error": locks.error,
        "drifting": (drift.value or {}).get("drifting", []), "drift_unknown": (drift.value or {}).get("unknown", []),
        "drift_error": drift.error,
    }  # fmt: skip


BUILDERS = {
    "plannings": _plannings,
    "history": _history,
    "containers": _containers,
    "queues": _queues,
    "hosts": _hosts,
    "deploy": _deploy,
}


def panel_build(name: str, *, history_range: str | None = None) -> Panel:
    """One panel; ``history_range`` is the history panel's ``?range=`` (the other panels take no options)."""
    build = BUILDERS[name]
    try:
        return Panel(name, build(range_key=history_range) if name == "history" else build())
    except Exception as exc:  # noqa: BLE001 (sorted by _failure: a bug is logged with its traceback)
        error, kind = _failure(name, exc)
        return Panel(name, error=error, error_kind=kind)


def _failure(name: str, exc: Exception) -> tuple[str, str]:
    """(error, error_kind) for a panel, or a part of one, that failed: the documented outages say what is down;
    anything else is the portal's bug, whose traceback goes to the log only."""
    if isinstance(exc, WalletOpsError):
        return f"{exc.code}: {exc.detail}", "missing" if isinstance(exc, Missing) else "down"
    if isinstance(exc, DatabaseError):
        logger.warning("dashboard panel %s: database error: %s", name, exc)
        return "database_unavailable: the portal's database did not answer", "down"
    logger.error("dashboard panel %s failed", name, exc_info=exc)
    # "internal": a bug of the portal, not a setting; the panel shows no configuration hint.
    return "internal_error: this panel failed; the error is in the portal's log", "internal"


def dashboard_build(*, history_range: str | None = None) -> dict[str, Panel]:
    return {name: panel_build(name, history_range=history_range) for name in PANELS}
