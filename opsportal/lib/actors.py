"""Who acts: a portal user, an API token (for its owner, within its scopes), or the command line.

One ``Actor`` is handed from the page, the API view or the command to the service that does the
action, and the service decides (``actor.refusal``); the pages and the API only translate the
outcome. The audit trail records ``name``, ``via`` and ``token_name``.

Lib imports no app: a token is duck-typed (``name``, ``scope_list``, ``owner``), a user is
Django's (``get_username``, ``is_active``, ``is_staff``, ``has_perm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PORTAL, API, CLI = "portal", "api", "cli"  # the audit trail's ``via`` values (opsportal.audit.models)


@dataclass(frozen=True)
class Actor:
    name: str
    via: str
    token_name: str = ""
    # Who decides: the portal user, or the token (whose owner, if any, is checked too). Not compared:
    # two actors are equal by what the audit trail records of them.
    user: object | None = field(default=None, compare=False, repr=False)
    token: object | None = field(default=None, compare=False, repr=False)

    @classmethod
    def portal(cls, user) -> Actor:
        return cls(name=user.get_username(), via=PORTAL, user=user)

    @classmethod
    def api(cls, token=None, *, owner_name: str = "", token_name: str = "") -> Actor:
        """A token acting for its owner (a machine token, without one, under its own name).

        Given only names (``owner_name``, ``token_name``) it is a record of who acted, deciding nothing.
        """
        if token is None:
            return cls(name=owner_name, via=API, token_name=token_name)
        owner = token.owner
        return cls(
            name=owner.get_username() if owner is not None else token.name,
            via=API,
            token_name=token.name,
            user=owner,
            token=token,
        )

    @classmethod
    def cli(cls, name: str = "") -> Actor:
        # The command line has no login: the OS user running manage.py, when the caller passes it.
        return cls(name=name or "command line", via=CLI)

    def refusal(self, *, permission: str = "", scope: str = "") -> str:
        """Why this actor may not do what needs ``permission`` (a person's) and ``scope`` (a token's); empty: it may.

        A token needs the scope, and its owner, if any, must still be active staff holding the
        permission (a machine token, without owner, needs the scope only: someone with shell access
        issued it). A portal user needs the permission. The command line may: it has shell access.
        """
        if self.token is not None:
            if scope and scope not in self.token.scope_list:
                return f"this token lacks the '{scope}' scope"
            owner = self.token.owner
            if owner is not None:
                if not (owner.is_active and owner.is_staff):
                    state = "is deactivated" if not owner.is_active else "is no longer staff"
                    return f"this token's owner {owner.get_username()} {state}"
                if permission and not owner.has_perm(permission):
                    return f"this token's owner {owner.get_username()} lacks {permission}"
            return ""
        if self.via == CLI:
            return ""
        user = self.user
        if user is None:
            return "no one is known to act"
        if not (user.is_active and user.is_staff):
            return f"{user.get_username()} is not active staff"
        if permission and not user.has_perm(permission):
            return f"the user lacks {permission}"
        return ""
