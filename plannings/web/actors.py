"""Who a request acts for: a token's owner (or the token itself), with the token's scopes."""

from __future__ import annotations

from opsportal.audit.services import Actor


def request_actor(request) -> Actor:
    token = request.auth
    owner = token.owner
    return Actor.api(
        owner_name=owner.get_username() if owner else token.name,
        token_name=token.name,
        owner=owner,
        scopes=token.scope_list,
    )
