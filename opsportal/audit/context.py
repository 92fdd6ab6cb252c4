"""Who is acting now, for the changes recorded from model signals (``changes.py``), which get no actor passed.

A request (``AuditActorMiddleware``: its user, or the API token DRF authenticated, read when a change is
recorded, so after authentication) or a management command (``manage.py``: the OS user) opens the context.
Outside one (a test's fixtures, an import script calling the ORM directly) nothing is recorded from signals:
every way the portal is operated opens one. No models here: ``manage.py`` imports it before Django is set up.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# A callable, so that the actor is read when a change happens (a request's user is known only after login).
_acting: ContextVar[Callable[[], object | None] | None] = ContextVar("audit_acting", default=None)


def is_open() -> bool:
    """Whether a request or a command is under way (an anonymous one too: a login's POST)."""
    return _acting.get() is not None


def acting_now():
    """The ``Actor`` of the change being made, or ``None`` outside any request or command."""
    resolve = _acting.get()
    return resolve() if resolve is not None else None


@contextmanager
def acting(resolve: Callable[[], object | None]) -> Iterator[None]:
    reset = _acting.set(resolve)
    try:
        yield
    finally:
        _acting.reset(reset)


def request_actor(request):
    """A request's actor: the API token's owner and the token (DRF sets ``auth`` on Django's request), else the
    user signed in; an anonymous request (a login page's POST) has none yet."""
    from opsportal.lib.actors import Actor

    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "owner") and hasattr(token, "scope_list"):
        return Actor.api(token)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor.portal(user)
    return None


class AuditActorMiddleware:
    """Opens the acting context for the request (after the authentication middleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting(lambda: request_actor(request)):
            return self.get_response(request)


def command_line_acting() -> None:
    """For ``manage.py``: every change a command makes (``createsuperuser``, ``changepassword``, a ``shell``) is
    recorded under the OS user who ran it."""

    def resolve():
        from opsportal.lib.actors import Actor

        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name in a bare container
            name = ""
        return Actor.cli(name)

    _acting.set(resolve)
