"""``Authorization: Bearer <token>`` for every wallet ops endpoint, and per-view scopes."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from walletops.errors import Forbidden, Unauthorized
from walletops.models import ApiToken
from walletops.tokens import api_token_authenticate


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
        return (token.owner or AnonymousUser(), token)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="walletops"'


class HasScope(BasePermission):
    """The view's ``required_scope`` must be among the token's scopes."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise Unauthorized("missing 'Authorization: Bearer <token>'")
        if view.required_scope not in token.scope_list:
            raise Forbidden(f"this token lacks the '{view.required_scope}' scope")
        return True
