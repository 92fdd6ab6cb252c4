"""API tokens: create (the secret is returned once), authenticate in constant time, revoke.

A token never does more than the people behind it. Each scope maps to what a person needs
to do the same thing in the portal (``opsportal.api.scopes``, filled by the apps):

- ``read``: an active staff account (every portal page needs one; looking needs nothing more);
- an app's scope (e.g. wallet ops' ``restart``): that, plus the permissions it registered.

Issuing (``token_grant_problems``): the scopes must be within the issuer's rights and the
owner's; the owner is the issuer unless the issuer has ``opsapi.manage_all_tokens``
(superusers have every permission). Using (``token_use_refusal``): an owner's rights are
checked again at every request, so a token stops working for what its owner can no longer do
(deactivated or no longer staff: refused everywhere; ``restart_container`` withdrawn: no
restart). A token without an owner is a machine token, issued on the command line by someone
with shell access: its scopes are what the command gave it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from opsportal.api import scopes as registry
from opsportal.api.models import ApiToken

SECRET_PREFIX = "wo_"  # noqa: S105 (a public marker, not a secret)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute
MANAGE_ALL_PERMISSION = "opsapi.manage_all_tokens"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _person_lacks(user, scope: str) -> str:
    """Why ``user`` may not hold ``scope`` (empty when they may)."""
    if not user.is_active:
        return "is deactivated"
    if not user.is_staff:
        return "is not staff"
    known = registry.scope_get(scope)
    if known is None:
        return f"cannot hold '{scope}': no such scope"
    missing = [perm for perm in known.needs if not user.has_perm(perm)]
    return f"lacks {', '.join(missing)}" if missing else ""


def token_grant_problems(*, issuer, owner, scopes: list[str], issuer_label: str = "your account") -> list[str]:
    """Why ``issuer`` may not issue a token with these scopes owned by ``owner`` (empty when they may)."""
    scopes = registry.scopes_canonical(scopes)
    problems = []
    if owner is not None and owner.pk != issuer.pk and not issuer.has_perm(MANAGE_ALL_PERMISSION):
        problems.append(
            f"Tokens owned by someone else than their issuer need {MANAGE_ALL_PERMISSION}; {issuer_label} lacks it."
        )
    problems += scope_problems(issuer, scopes, label=issuer_label)
    if owner is not None and owner.pk != issuer.pk:
        problems += scope_problems(owner, scopes, label=f"the owner {owner.get_username()}")
    return problems


def scope_problems(person, scopes: list[str], *, label: str) -> list[str]:
    """Why ``person`` may not stand behind a token with these scopes (empty when they may)."""
    scopes = registry.scopes_canonical(scopes)
    return [
        f"The '{scope}' scope cannot be granted: {label} {reason} "
        "(a token never does more than the people who issue and own it)."
        for scope in registry.scopes_known()
        if scope in scopes and (reason := _person_lacks(person, scope))
    ]


def token_use_refusal(token: ApiToken, scopes: tuple[str, ...] | list[str]) -> str:
    """Why this token may not be used for ``scopes`` now (empty when it may): its scopes, then its owner's rights."""
    scopes = registry.scopes_canonical(scopes)
    for scope in scopes:
        if scope not in token.scope_list:
            return f"this token lacks the '{scope}' scope"
    owner = token.owner
    if owner is not None:
        for scope in scopes:
            if reason := _person_lacks(owner, scope):
                return f"this token's owner {owner.get_username()} {reason}, so the token may no longer '{scope}'"
    return ""


def token_owner_refusal(token: ApiToken) -> str:
    """Why no request at all may use this token now: its owner was deactivated or is no longer staff."""
    owner = token.owner
    if owner is not None and not (owner.is_active and owner.is_staff):
        state = "is deactivated" if not owner.is_active else "is no longer staff"
        return f"this token's owner {owner.get_username()} {state}"
    return ""


def api_token_create(
    *, name: str, scopes: list[str], owner=None, expires_at: datetime | None = None, created_by=None
) -> IssuedToken:
    """Create a token (no permission check: callers acting for a person use ``token_grant_problems`` first)."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    known = registry.scopes_known()
    scopes = registry.scopes_canonical(scopes)
    unknown = sorted(set(scopes) - set(known))
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {list(known)}; got {scopes}")
    prefix, secret = _secret_new()
    token = ApiToken.objects.create(
        name=name,
        owner=owner,
        created_by=created_by,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=",".join(scope for scope in known if scope in scopes),
        expires_at=expires_at,
    )
    return IssuedToken(token=token, secret=secret)


def _secret_new(prefix: str = "") -> tuple[str, str]:
    prefix = prefix or secrets.token_hex(6)
    return prefix, f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def api_token_secret_reveal(*, token_id: int, issued_hash: str) -> IssuedToken | None:
    """A fresh secret for a token still holding the hash it was issued with, or None: at most once.

    The portal shows a new token's secret on the page its form redirects to, not in the POST's
    answer (a reload would issue another token). The secret made at issue is never shown: this one
    replaces it (same prefix, so the audit's "name (prefix)" still names it), in one conditional UPDATE,
    so two reloads racing reveal it once.
    """
    token = ApiToken.objects.filter(pk=token_id).only("prefix").first()
    if token is None:
        return None
    _, secret = _secret_new(token.prefix)
    replaced = ApiToken.objects.filter(pk=token_id, secret_hash=issued_hash, revoked_at__isnull=True).update(
        secret_hash=_hash(secret)
    )
    if not replaced:
        return None
    return IssuedToken(token=ApiToken.objects.select_related("owner", "created_by").get(pk=token_id), secret=secret)


def api_token_authenticate(secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token whose secret this is, or None. Every path compares a hash in constant time."""
    now = now or timezone.now()
    prefix = secret[len(SECRET_PREFIX) :].split("_", 1)[0] if secret.startswith(SECRET_PREFIX) else ""
    token = ApiToken.objects.filter(prefix=prefix).select_related("owner", "created_by").first() if prefix else None
    expected = token.secret_hash if token else _hash("no such token")
    matches = hmac.compare_digest(_hash(secret), expected)
    if token is None or not matches or not token.is_active(now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_revoke(*, token: ApiToken, now: datetime | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
