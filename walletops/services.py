"""Writes for wallet ops: container restarts, each attempt audited."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from walletops import containers, fleet
from walletops.clients import docker as engine
from walletops.errors import ContainerNotFound, DockerUnavailable, Forbidden, RestartThrottled
from walletops.models import ApiToken, RestartAudit


def _audit(*, actor: str, token: ApiToken | None, env: str, name: str, outcome: str, detail: str, started: float):
    RestartAudit.objects.create(
        actor=actor[:150], token=token, token_name=token.name if token else "", env=env, container=name[:255],
        outcome=outcome, detail=detail[:2000], duration_ms=round((time.monotonic() - started) * 1000),
    )  # fmt: skip


def _recent_restarts(*, token: ApiToken | None, actor: str) -> int:
    # The audit trail is the shared record of restarts, so the limit holds across every web process.
    # A token is limited on its own; a portal user (no token) by their user name.
    since = timezone.now() - timedelta(minutes=1)
    mine = {"token": token} if token is not None else {"token__isnull": True, "actor": actor[:150]}
    return RestartAudit.objects.filter(**mine, created_at__gte=since, outcome="restarted").count()


def container_restart(
    *,
    name: str,
    envs: list[str],
    include_accessories: bool,
    timeout: int,
    actor: str,
    token: ApiToken | None,
    allowed: bool,
    refusal: str = "",
) -> dict:
    """Restart a managed container in place and return its fresh view; audit every attempt.

    ``allowed`` is the caller's permission decision (scope or Django permission),
    audited here with the outcome so refused attempts leave a trace too.
    """
    started = time.monotonic()
    env_label = ",".join(envs)
    if not allowed:
        _audit(actor=actor, token=token, env=env_label, name=name, outcome="refused", detail=refusal, started=started)
        raise Forbidden(refusal)
    if _recent_restarts(token=token, actor=actor) >= settings.WALLETOPS_RESTARTS_PER_MINUTE:
        who = "with this token" if token is not None else "by this user"
        detail = f"more than {settings.WALLETOPS_RESTARTS_PER_MINUTE} restarts a minute {who}"
        _audit(actor=actor, token=token, env=env_label, name=name, outcome="refused", detail=detail, started=started)
        raise RestartThrottled(detail)
    if fleet.is_protected(name):
        detail = f"{name} is protected (WALLETOPS_PROTECTED_CONTAINERS)"
        _audit(actor=actor, token=token, env=env_label, name=name, outcome="refused", detail=detail, started=started)
        raise Forbidden(detail)
    try:
        found = containers.container_find(name=name, envs=envs, include_accessories=include_accessories)
    except DockerUnavailable as exc:  # the engine is down: the attempt is still audited, once
        _audit(actor=actor, token=token, env=env_label, name=name, outcome="failed", detail=exc.detail_text,
               started=started)  # fmt: skip
        raise
    try:
        engine.container_restart(found.url, found.id, timeout=timeout)
    except (engine.EngineDown, engine.ContainerGone) as exc:
        _audit(actor=actor, token=token, env=found.membership.env, name=name, outcome="failed", detail=str(exc),
               started=started)  # fmt: skip
        if isinstance(exc, engine.EngineDown):
            raise DockerUnavailable(str(exc)) from None
        raise ContainerNotFound(f"{name} disappeared") from None
    _audit(actor=actor, token=token, env=found.membership.env, name=name, outcome="restarted",
           detail=f"timeout {timeout}s", started=started)  # fmt: skip
    return containers.container_detail(found)
