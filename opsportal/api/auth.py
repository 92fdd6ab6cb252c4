"""``Authorization: Bearer <token>`` for every API endpoint, and per-view scopes.

Rights are checked at every use, not only when the token was issued (``opsportal.api.tokens``):
a token whose owner was deactivated or is no longer staff authenticates no request (401,
as a revoked token), and a scope is refused (403) when its owner lost the permission it needs.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from opsportal.api.errors import Forbidden, Unauthorized
from opsportal.api.models import ApiToken
from opsportal.api.tokens import api_token_authenticate, token_owner_refusal, token_use_refusal


class OwnerRefused(Unauthorized):
    """A valid token whose owner may no longer use the portal; ``token`` says which (for the restart audit)."""

    def __init__(self, detail: str, token: ApiToken):
        super().__init__(detail)
        self.token = token


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != b"bearer" or len(header) != 2:
            raise Unauthorized("expected 'Authorization: Bearer <token>'")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise Unauthorized("unknown, expired or revoked token") from None
        token = api_token_authenticate(secret)
        if token is None:
            raise Unauthorized("unknown, expired or revoked token")
        if refusal := token_owner_refusal(token):
            raise OwnerRefused(refusal, token)
        return (token.owner or AnonymousUser(), token)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="walletops"'


class HasToken(BasePermission):
    """Any valid token: the view checks (and audits) its scopes itself."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiToken):
            raise Unauthorized("missing 'Authorization: Bearer <token>'")
        return True


class HasScope(HasToken):
    """The view's ``required_scope`` must be among the token's scopes, and its owner must still hold it."""

    def has_permission(self, request, view) -> bool:
        super().has_permission(request, view)
        if refusal := token_use_refusal(request.auth, [view.required_scope]):
            raise Forbidden(refusal)
        return True
