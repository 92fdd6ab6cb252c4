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

from opsportal.lib import accounting
from opsportal.portal import charts, queues
from plannings import health, history, selectors
from walletops import containers, deploy_info, hosts
from walletops.exceptions import Missing, WalletOpsError

logger = logging.getLogger(__name__)

PANELS = ("plannings", "history", "containers", "queues", "hosts", "deploy")


@dataclass
class Panel:
    name: str
    data: dict = field(default_factory=dict)
    error: str = ""
    # "down" for an outage of the system behind the panel, "missing" for absent data (no deploy yet).
    error_kind: str = ""


def _plannings() -> dict:
    now = timezone.now()
    runtimes, shared = selectors.job_runtimes(), selectors.jobs_shared_state()
    report = health.health_report(now=now, runtimes=runtimes, shared=shared)
    return {
        "report": report,
        "jobs": [(job_id, runtimes.get(job_id)) for job_id in selectors.JOB_IDS],
        "shared": shared,
    }


def _history() -> dict:
    now = timezone.now()
    return {"history": charts.history_chart(history.health_history(now=now), now=now)}


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


def _deploy() -> dict:
    return {"info": deploy_info.deploy_info_read()}


BUILDERS = {
    "plannings": _plannings,
    "history": _history,
    "containers": _containers,
    "queues": _queues,
    "hosts": _hosts,
    "deploy": _deploy,
}


def panel_build(name: str) -> Panel:
    try:
        return Panel(name, BUILDERS[name]())
    except WalletOpsError as exc:
        kind = "missing" if isinstance(exc, Missing) else "down"
        return Panel(name, error=f"{exc.code}: {exc.detail}", error_kind=kind)
    except DatabaseError as exc:
        logger.warning("dashboard panel %s: database error: %s", name, exc)
        return Panel(name, error="database_unavailable: the portal's database did not answer", error_kind="down")
    except Exception:  # one panel's bug must not take the page down; the traceback goes to the log only
        logger.exception("dashboard panel %s failed", name)
        return Panel(
            name, error="internal_error: this panel failed; the error is in the portal's log", error_kind="down"
        )


def dashboard_build() -> dict[str, Panel]:
    return {name: panel_build(name) for name in PANELS}
