"""Writes for wallet ops: container restarts, each attempt audited and rate-limited before it acts.

The limits hold under concurrency, across every web process and on SQLite as on PostgreSQL:
an attempt is admitted inside one transaction that first locks its actor's row (the token's,
or the portal user's; ``SELECT … FOR UPDATE`` on PostgreSQL, and on SQLite the transaction
itself, which the portal opens ``IMMEDIATE``, so it holds the database's write lock), counts
the actor's attempts of the last minute, and records the admitted one as ``started`` before
it commits. Concurrent attempts therefore queue on the lock and count the in-flight ones: with
``WALLETOPS_RESTARTS_PER_MINUTE=5``, 15 simultaneous requests restart exactly 5 times.
The Docker call runs after the commit (no lock is held while the engine works); the row then
becomes ``restarted`` or ``failed``. A row left ``started`` is an attempt whose process died.

Refusals are rate-limited too, so a token without rights cannot grow the audit trail without
bound: past ``WALLETOPS_REFUSALS_PER_MINUTE`` refused attempts a minute per token (or user),
further ones answer 429 and only increment ``repeats`` on the last refusal row.

Every attempt is also one row of the portal's one audit trail (``opsportal.audit``,
action ``container.restart``), written with its restart row in the same transaction once the
outcome is known: ``refused`` (with the refusal's row; none past the refusal limit either),
``ok`` (restarted) or ``failed``. An attempt whose process died while the engine worked has
its ``started`` restart row but no audit event. Health checks run (``container.health_check``)
are audited here too (tokens issued and revoked: ``opsportal.api.services``).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from opsportal.api.models import ApiToken
from opsportal.api.scopes import READ
from opsportal.audit.services import Actor, Via, audit_record, audit_refusal_record
from opsportal.audit.services import Outcome as Audited
from walletops import containers, fleet
from walletops.clients import docker as engine
from walletops.exceptions import (
    ContainerNotFound,
    DockerUnavailable,
    HealthCheckRefused,
    RestartRefused,
    RestartThrottled,
    WalletOpsError,
)
from walletops.models import RestartAudit
from walletops.tokens import HEALTH_CHECK_PERMISSION, RESTART_PERMISSION, SCOPE_CHECK, SCOPE_RESTART

ACTION_RESTART = "container.restart"
ACTION_HEALTH_CHECK = "container.health_check"
Outcome = RestartAudit.Outcome
# Attempts the restart limit counts: every admitted one, finished or in flight.
COUNTED = (Outcome.STARTED, Outcome.RESTARTED, Outcome.FAILED)
WINDOW = timedelta(minutes=1)


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _row(*, actor: str, token: ApiToken | None, env: str, name: str) -> dict:
    """The audit row's "who and what": the actor, and for a token its name, owner and issuer."""
    owner = token.owner if token is not None else None
    issuer = token.created_by if token is not None else None
    return {
        "actor": actor[:150],
        "token": token,
        "token_name": token.name if token else "",
        "token_owner": owner.get_username()[:150] if owner else "",
        "token_issued_by": issuer.get_username()[:150] if issuer else "",
        "env": env[:50],
        "container": name[:255],
    }


def _audit_actor(row: dict) -> Actor:
    """The audit trail's "who": a token acts for its owner (a machine token under its own name); else a portal user."""
    if row["token"] is not None:
        return Actor.api(owner_name=row["actor"], token_name=row["token_name"])
    return Actor(name=row["actor"], via=Via.PORTAL)


def _restart_audited(*, row: dict, outcome: str, detail: str) -> None:
    audit_record(
        actor=_audit_actor(row),
        action=ACTION_RESTART,
        outcome=outcome,
        target_type="container",
        targets=[row["container"]],
        changed=1 if outcome == Audited.OK else 0,
        detail=f"env {row['env'] or '?'}: {detail}"[:2000],
    )


def _mine(*, token: ApiToken | None, actor: str) -> dict:
    # A token is limited on its own; a portal user (no token) by their user name.
    return {"token": token} if token is not None else {"token__isnull": True, "actor": actor[:150]}


def _lock(*, token: ApiToken | None, user) -> None:
    """Serialise one actor's admissions until the transaction ends (see the module's docstring)."""
    if token is not None:
        rows = ApiToken.objects.filter(pk=token.pk)
    elif user is not None and user.pk is not None:
        rows = get_user_model().objects.filter(pk=user.pk)
    else:  # no row to lock: the transaction alone (enough on SQLite, where it is the write lock)
        return
    list(rows.select_for_update().values_list("pk", flat=True))


def _refusal(*, row: dict, mine: dict, detail: str, started: float) -> RestartThrottled | None:
    """Audit a refusal, unless this actor was refused too often this minute: then the error to raise instead.

    In the lock. ``None`` when the refusal was audited: the caller raises its own refusal.
    """
    limit = settings.WALLETOPS_REFUSALS_PER_MINUTE
    recent = RestartAudit.objects.filter(**mine, outcome=Outcome.REFUSED, created_at__gte=timezone.now() - WINDOW)
    if recent.count() < limit:
        RestartAudit.objects.create(
            **row, outcome=Outcome.REFUSED, detail=detail[:2000], duration_ms=_elapsed_ms(started)
        )
        _restart_audited(row=row, outcome=Audited.REFUSED, detail=detail)
        return None
    last = recent.order_by("-created_at", "-pk").values_list("pk", flat=True).first()
    RestartAudit.objects.filter(pk=last).update(repeats=F("repeats") + 1)
    who = "with this token" if row["token"] is not None else "by this user"
    return RestartThrottled(
        f"more than {limit} refused restart attempts a minute {who} ({detail}); "
        "further refusals are counted on the last audit row"
    )


def restart_refused(
    *, name: str, env: str, actor: str, token: ApiToken | None, detail: str, user=None
) -> RestartThrottled | None:
    """Audit an attempt refused before it reached ``container_restart`` (e.g. its token's owner was deactivated).

    ``None`` when the refusal was audited (the caller answers with its own refusal); a ``RestartThrottled``
    to raise instead when this actor was refused too often this minute.
    """
    started = time.monotonic()
    with transaction.atomic():
        _lock(token=token, user=user)
        return _refusal(
            row=_row(actor=actor, token=token, env=env, name=name),
            mine=_mine(token=token, actor=actor),
            detail=detail,
            started=started,
        )


def _admit(*, row: dict, mine: dict, token: ApiToken | None, user, timeout: int, started: float):
    """The ``started`` audit row of an admitted attempt, or the error refusing it: counted and recorded atomically."""
    limit = settings.WALLETOPS_RESTARTS_PER_MINUTE
    with transaction.atomic():
        _lock(token=token, user=user)
        used = RestartAudit.objects.filter(**mine, outcome__in=COUNTED, created_at__gte=timezone.now() - WINDOW)
        if used.count() >= limit:
            who = "with this token" if token is not None else "by this user"
            error = RestartThrottled(f"more than {limit} restarts a minute {who}")
            return None, _refusal(row=row, mine=mine, detail=error.detail, started=started) or error
        audit = RestartAudit.objects.create(**row, outcome=Outcome.STARTED, detail=f"timeout {timeout}s")
    return audit, None


def _finish(
    audit: RestartAudit, *, row: dict, outcome: str, detail: str, started: float, env: str | None = None
) -> None:
    """The attempt's outcome on its restart row and in the audit trail, together or not at all."""
    audit.outcome, audit.detail, audit.duration_ms = outcome, detail[:2000], _elapsed_ms(started)
    fields = ["outcome", "detail", "duration_ms"]
    if env is not None:
        audit.env = env[:50]
        fields.append("env")
    with transaction.atomic():
        audit.save(update_fields=fields)
        _restart_audited(
            row={**row, "env": audit.env},
            outcome=Audited.OK if outcome == Outcome.RESTARTED else Audited.FAILED,
            detail=f"{outcome} in {audit.duration_ms} ms: {detail}",
        )


def container_restart(
    *,
    name: str,
    envs: list[str],
    include_accessories: bool,
    timeout: int,
    actor: Actor,
) -> dict:
    """Restart a managed container in place and return its fresh view; audit every attempt.

    The actor decides (``Actor.refusal``): a token needs ``read`` (the answer is the container's
    view) and ``containers:restart``, and its owner ``walletops.restart_container``; a portal user needs the
    permission. A refusal is audited like the other outcomes and raised as ``RestartRefused``. A
    token's attempts are serialised on its row, a portal user's on theirs.
    """
    refusal = actor.refusal(scope=READ) or actor.refusal(permission=RESTART_PERMISSION, scope=SCOPE_RESTART)
    return _restart(
        name=name,
        envs=envs,
        include_accessories=include_accessories,
        timeout=timeout,
        actor=actor.name,
        token=actor.token,
        user=actor.user if actor.token is None else None,
        refusal=refusal,
    )


def _restart(
    *, name: str, envs: list[str], include_accessories: bool, timeout: int, actor: str, token, user, refusal: str
) -> dict:
    started = time.monotonic()
    row = _row(actor=actor, token=token, env=",".join(envs), name=name)
    mine = _mine(token=token, actor=actor)
    refused = None
    if refusal:
        refused = RestartRefused(refusal)
    elif fleet.is_protected(name):
        refused = RestartRefused(f"{name} is protected (WALLETOPS_PROTECTED_CONTAINERS)")
    if refused is not None:
        with transaction.atomic():
            _lock(token=token, user=user)
            throttled = _refusal(row=row, mine=mine, detail=refused.detail, started=started)
        raise throttled or refused
    audit, error = _admit(row=row, mine=mine, token=token, user=user, timeout=timeout, started=started)
    if error is not None:
        raise error
    env = None
    try:
        found = containers.container_find(name=name, envs=envs, include_accessories=include_accessories)
        env = found.membership.env
        engine.container_restart(found.url, found.id, timeout=timeout)
    except WalletOpsError as exc:  # e.g. the engine is down: the attempt is still audited, once
        _finish(audit, row=row, outcome=Outcome.FAILED, detail=exc.detail, started=started, env=env)
        raise
    except engine.EngineDown as exc:
        _finish(audit, row=row, outcome=Outcome.FAILED, detail=str(exc), started=started, env=env)
        raise DockerUnavailable(str(exc)) from None
    except engine.ContainerGone as exc:
        _finish(audit, row=row, outcome=Outcome.FAILED, detail=str(exc), started=started, env=env)
        raise ContainerNotFound(f"{name} disappeared") from None
    except Exception as exc:  # a bug or an unexpected engine answer: the row must not stay "started"
        _finish(audit, row=row, outcome=Outcome.FAILED, detail=repr(exc), started=started, env=env)
        raise
    _finish(audit, row=row, outcome=Outcome.RESTARTED, detail=f"timeout {timeout}s", started=started, env=env)
    return containers.container_detail(found)


def container_health_check_run(*, name: str, envs: list[str], include_accessories: bool, actor: Actor) -> dict:
    """Run a container's own HEALTHCHECK command now; the run is audited (``ok``, or ``failed`` with the reason).

    An unhealthy answer is a check that ran: ``ok``, its status in the detail. The actor decides
    (``Actor.refusal``: a token needs ``read`` and ``containers:check``, and its owner
    ``walletops.run_health_check``; a portal user the permission): a refusal is audited and raised as
    ``HealthCheckRefused``.
    """
    refusal = actor.refusal(scope=READ) or actor.refusal(permission=HEALTH_CHECK_PERMISSION, scope=SCOPE_CHECK)
    if refusal:
        _health_check_refused(name=name, actor=actor, detail=refusal)
        raise HealthCheckRefused(refusal)
    env = ",".join(envs)
    try:
        found = containers.container_find(name=name, envs=envs, include_accessories=include_accessories)
        env = found.membership.env
        result = containers.container_health_check(found)
    except WalletOpsError as exc:
        audit_record(
            actor=actor,
            action=ACTION_HEALTH_CHECK,
            outcome=Audited.FAILED,
            target_type="container",
            targets=[name],
            changed=0,
            detail=f"env {env}: {exc.code}: {exc.detail}"[:2000],
        )
        raise
    audit_record(
        actor=actor,
        action=ACTION_HEALTH_CHECK,
        target_type="container",
        targets=[found.name],
        detail=f"env {env}: {result['status']}, exit code {result['exit_code']}, {result['duration_ms']} ms",
    )
    return result


def _health_check_refused(*, name: str, actor: Actor, detail: str) -> None:
    """Audit a health check the actor may not run (at most ``REFUSALS_KEPT_PER_MINUTE`` rows a minute)."""
    audit_refusal_record(
        actor=actor, action=ACTION_HEALTH_CHECK, target_type="container", targets=[name], detail=detail
    )
