"""API tokens: create (the secret is returned once), authenticate in constant time, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from walletops.models import ApiToken

SECRET_PREFIX = "wo_"  # noqa: S105 (a public marker, not a secret)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def api_token_create(*, name: str, scopes: list[str], owner=None, expires_at: datetime | None = None) -> IssuedToken:
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    unknown = sorted(set(scopes) - set(ApiToken.SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {list(ApiToken.SCOPES)}; got {scopes}")
    prefix = secrets.token_hex(6)
    secret = f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name, owner=owner, prefix=prefix, secret_hash=_hash(secret),
        scopes=",".join(scope for scope in ApiToken.SCOPES if scope in scopes), expires_at=expires_at,
    )  # fmt: skip
    return IssuedToken(token=token, secret=secret)


def api_token_authenticate(secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token whose secret this is, or None. Every path compares a hash in constant time."""
    now = now or timezone.now()
    prefix = secret[len(SECRET_PREFIX) :].split("_", 1)[0] if secret.startswith(SECRET_PREFIX) else ""
    token = ApiToken.objects.filter(prefix=prefix).select_related("owner").first() if prefix else None
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
