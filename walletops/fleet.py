"""Which containers on an engine belong to the service, by Kamal's labels (and to which env and role)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Membership:
    env: str
    role: str
    accessory: bool


def classify(labels: dict[str, str], *, service: str, envs: list[str], accessories: list[str]) -> Membership | None:
    """The container's env and role, or None when it is not one of the service's.

    App containers: ``service=S-E`` (or ``service=S`` with ``destination=E``) and a ``role``.
    Accessories: ``service=S-E-<acc>`` (or ``S-<acc>`` with ``destination=E``).
    """
    labelled = labels.get("service") or ""
    destination = labels.get("destination") or ""
    role = labels.get("role") or ""
    for env in envs:
        if role and (labelled == f"{service}-{env}" or (labelled == service and destination == env)):
            return Membership(env=env, role=role, accessory=False)
        for accessory in accessories:
            if labelled == f"{service}-{env}-{accessory}" or (
                labelled == f"{service}-{accessory}" and destination == env
            ):
                return Membership(env=env, role=accessory, accessory=True)
    return None


def engines_for(envs: list[str]) -> dict[str, list[str]]:
    """Engine URL -> the envs it serves; an env without configured engines uses the local engine."""
    local = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    engines: dict[str, list[str]] = {}
    for env in envs:
        for url in settings.WALLETOPS_DOCKER_HOSTS.get(env, [local]):
            engines.setdefault(url, []).append(env)
    return engines


def is_protected(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.WALLETOPS_PROTECTED_CONTAINERS)
