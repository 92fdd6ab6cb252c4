"""Writes for API tokens, each on the audit trail: issue (``token.create``), refusals to issue, revoke
(``token.revoke``), and the revocation of a deleted person's tokens."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from opsportal.api import tokens
from opsportal.api.models import ApiToken
from opsportal.audit.services import Actor, Via, audit_record, audit_refusal_record

ACTION_TOKEN_CREATE = "token.create"  # noqa: S105 (an action name, not a secret)
ACTION_TOKEN_REVOKE = "token.revoke"  # noqa: S105 (an action name, not a secret)


def token_issue(
    *, actor: Actor, name: str, scopes: list[str], owner=None, expires_at=None, created_by=None
) -> tokens.IssuedToken:
    """Create a token and audit it in one transaction (``ValueError`` for a bad name or scopes: nothing written).

    The caller checked the issuer's rights (``tokens.token_grant_problems``); ``token_issue_refused``
    records when they failed.
    """
    with transaction.atomic():
        issued = tokens.api_token_create(
            name=name, scopes=scopes, owner=owner, expires_at=expires_at, created_by=created_by
        )
        token = issued.token
        owner_name = owner.get_username() if owner is not None else "no one (a machine token)"
        audit_record(
            actor=actor,
            action=ACTION_TOKEN_CREATE,
            target_type="token",
            targets=[f"{token.name} ({token.prefix})"],
            changed=1,
            # Before: no token; after: what it may do, for whom, until when (never its secret or hash).
            detail=f"scopes {token.scopes}; owner {owner_name}; "
            f"expires {token.expires_at.isoformat() if token.expires_at else 'never'}",
        )
    return issued


def token_issue_refused(*, actor: Actor, name: str, problems: list[str]) -> None:
    audit_refusal_record(
        actor=actor, action=ACTION_TOKEN_CREATE, target_type="token", targets=[name], detail=" ".join(problems)
    )


def tokens_revoke_refused(*, actor: Actor, targets: list[str], detail: str) -> None:
    audit_refusal_record(
        actor=actor, action=ACTION_TOKEN_REVOKE, target_type="token", targets=[f"id {pk}" for pk in targets],
        detail=detail,
    )  # fmt: skip


def tokens_revoke(*, actor: Actor, tokens_to_revoke, now=None) -> int:
    """Revoke these tokens (the already revoked stay as they were) and audit it once; returns how many were revoked."""
    now = now or timezone.now()
    with transaction.atomic():
        chosen = list(tokens_to_revoke)
        revoked = [token for token in chosen if token.revoked_at is None]
        for token in revoked:
            tokens.api_token_revoke(token=token, now=now)
        audit_record(
            actor=actor,
            action=ACTION_TOKEN_REVOKE,
            target_type="token",
            targets=[f"{token.name} ({token.prefix})" for token in chosen],
            changed=len(revoked),
            # Before and after of what changed (a token's revocation time; its secret is never on the record).
            detail=f"{len(revoked)} revoked, {len(chosen) - len(revoked)} already revoked; "
            + "; ".join(f"{token.name} ({token.prefix}) revoked_at: none → {now.isoformat()}" for token in revoked),
            now=now,
        )
    return len(revoked)


def owner_deleted_tokens_revoke(*, user) -> int:
    """Revoke the live tokens of a user about to be deleted, audited (``pre_delete`` of the user model).

    ``ApiToken.owner`` is ``SET_NULL`` so the restart ledger keeps its rows; without this, a deleted
    person's tokens became ownerless machine tokens, which no owner's rights limit any more.
    """
    live = ApiToken.objects.filter(owner=user, revoked_at__isnull=True)
    if not live.exists():
        return 0
    actor = Actor(name=f"deletion of user {user.get_username()}", via=Via.PORTAL)
    return tokens_revoke(actor=actor, tokens_to_revoke=live)
