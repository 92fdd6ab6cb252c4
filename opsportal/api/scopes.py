"""Token scopes: the kit knows ``read``; each app registers its own families when it is ready.

A scope names what a token may do and what a person needs, beyond an active staff account, to
stand behind a token that holds it (``needs``: permission names). The kit imports no app, so the
apps fill this registry from their ``AppConfig.ready`` (``scope_register``).
"""

from __future__ import annotations

from dataclasses import dataclass

READ = "read"


@dataclass(frozen=True)
class Scope:
    name: str
    needs: tuple[str, ...]  # permissions a person needs to hold it (besides being active staff)
    description: str


_REGISTRY: dict[str, Scope] = {}
# Old names still accepted on input (a script's ``--scopes restart``), stored under the new one.
_ALIASES: dict[str, str] = {}


def scope_register(name: str, *, needs: tuple[str, ...] = (), description: str) -> Scope:
    """Register a scope (idempotent for the same definition; a different one under a known name is a bug)."""
    scope = Scope(name=name, needs=tuple(needs), description=description)
    known = _REGISTRY.get(name)
    if known is not None and known != scope:
        raise ValueError(f"scope {name!r} is already registered as {known}")
    _REGISTRY[name] = scope
    return scope


def scope_alias_register(old: str, new: str) -> None:
    """``old`` is read as ``new`` on input (issuing a token); stored tokens were migrated to ``new``."""
    _ALIASES[old] = new


def scope_canonical(name: str) -> str:
    """The registered name of ``name``: itself, or the scope an old name became."""
    return _ALIASES.get(name, name)


def scopes_canonical(names) -> list[str]:
    return list(dict.fromkeys(scope_canonical(name) for name in names))


def scope_get(name: str) -> Scope | None:
    return _REGISTRY.get(scope_canonical(name))


def scopes_known() -> tuple[str, ...]:
    """Every registered scope's name, in registration order (``read`` first)."""
    return tuple(_REGISTRY)


def scope_choices() -> list[tuple[str, str]]:
    """For a form's choices: each scope with what it lets a token do."""
    return [(scope.name, f"{scope.name}: {scope.description}") for scope in _REGISTRY.values()]


scope_register(READ, description="read every endpoint (an active staff account)")
