"""Drift: per role, the version each host runs, from the running containers' version labels.

Kamal shows one host at a time (``kamal app version``, ``kamal app stale_containers``); this compares
them. A role drifts when its hosts do not run the same versions, when a host runs more than one version
(Kamal's stale containers), or when the newest deploy's version runs nowhere on some host. Rollback
candidates: the other versions whose containers (stopped ones too: Kamal keeps them) are on every host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from walletops import containers
from walletops.deploys.timeline import deploys_recent


@dataclass(frozen=True)
class Seen:
    role: str
    host: str
    version: str
    running: bool


@dataclass
class RoleDrift:
    role: str
    hosts: dict[str, list[str]]  # host -> versions running there, sorted
    problems: list[str] = field(default_factory=list)
    rollback_candidates: list[str] = field(default_factory=list)

    @property
    def drifting(self) -> bool:
        return bool(self.problems)


def drift_compute(seen: list[Seen], *, newest_version: str = "") -> list[RoleDrift]:
    """Pure: the drift of each role from what the engines answered."""
    roles: dict[str, list[Seen]] = {}
    for item in seen:
        roles.setdefault(item.role, []).append(item)
    report = []
    for role, items in sorted(roles.items()):
        hosts = sorted({item.host for item in items})
        running = {host: sorted({i.version for i in items if i.host == host and i.running}) for host in hosts}
        present = [{i.version for i in items if i.host == host} for host in hosts]
        drift = RoleDrift(role=role, hosts=running)
        if len({tuple(versions) for versions in running.values()}) > 1:
            drift.problems.append(
                "hosts differ: " + "; ".join(f"{host} runs {', '.join(v) or 'nothing'}" for host, v in running.items())
            )
        for host, versions in running.items():
            if len(versions) > 1:
                drift.problems.append(f"{host} runs {len(versions)} versions ({', '.join(versions)})")
        if newest_version:
            lacking = [host for host, versions in running.items() if newest_version not in versions]
            if lacking:
                drift.problems.append(
                    f"the newest deploy's version {newest_version} is not running on {', '.join(lacking)}"
                )
        current = set().union(*running.values()) if running else set()
        everywhere = set.intersection(*present) if present else set()
        drift.rollback_candidates = sorted(version for version in everywhere - current if version)
        report.append(drift)
    return report


def drift_report(*, service: str, destination: str) -> dict:
    """Drift of every role of one destination, read from its Docker engines now."""
    found, missing = containers.containers_seen(envs=[destination], include_accessories=False)
    seen = [
        Seen(role=item.view["role"], host=item.engine_host, version=item.view["version"],
             running=item.view["status"] == "running")
        for item in found
    ]  # fmt: skip
    newest = deploys_recent(service, destination, count=1)
    roles = drift_compute(seen, newest_version=newest[0].version if newest else "")
    return {
        "destination": destination,
        "newest_version": newest[0].version if newest else "",
        "roles": [
            {"role": d.role, "hosts": d.hosts, "problems": d.problems, "rollback_candidates": d.rollback_candidates,
             "drifting": d.drifting}
            for d in roles
        ],
        "drifting": any(d.drifting for d in roles),
        "missing_hosts": missing,
    }  # fmt: skip
