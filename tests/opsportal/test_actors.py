"""``Actor.refusal``: one decision for who may act, whatever way they came (opsportal/lib/actors.py)."""

import inspect

import pytest
from django.contrib.auth.models import Permission, User

from opsportal.api.tokens import api_token_create
from opsportal.lib.actors import Actor
from walletops import services

pytestmark = pytest.mark.django_db
RESTART = "walletops.restart_container"
SCOPE = "containers:restart"
LACKS = "this token lacks the 'containers:restart' scope"


def _staff(name: str, *perms: str, **flags) -> User:
    user = User.objects.create_user(name, is_staff=True, **flags)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def test_a_token_needs_the_scope_and_its_owner_the_permission():
    deployer = _staff("deployer", RESTART)
    both = Actor.api(api_token_create(name="both", scopes=["read", "restart"], owner=deployer).token)
    assert both.refusal(permission=RESTART, scope=SCOPE) == ""
    read_only = Actor.api(api_token_create(name="ro", scopes=["read"], owner=deployer).token)
    assert read_only.refusal(permission=RESTART, scope=SCOPE) == LACKS
    viewer = _staff("viewer")
    lent = Actor.api(api_token_create(name="lent", scopes=["read", "restart"], owner=viewer).token)
    assert lent.refusal(permission=RESTART, scope=SCOPE) == f"this token's owner viewer lacks {RESTART}"
    assert (lent.name, lent.via, lent.token_name) == ("viewer", "api", "lent")


def test_a_token_whose_owner_left_may_nothing():
    leaver = _staff("leaver", RESTART, is_active=False)
    token = Actor.api(api_token_create(name="old", scopes=["read"], owner=leaver).token)
    assert token.refusal(scope="read") == "this token's owner leaver is deactivated"


def test_a_machine_token_needs_only_the_scope():
    machine = Actor.api(api_token_create(name="ci", scopes=["read", "containers:restart"]).token)
    assert machine.refusal(permission=RESTART, scope=SCOPE) == ""
    assert machine.name == "ci"
    reader = Actor.api(api_token_create(name="grafana", scopes=["read"]).token)
    assert reader.refusal(permission=RESTART, scope=SCOPE) == LACKS


def test_a_portal_user_needs_the_permission_and_the_command_line_may():
    assert Actor.portal(_staff("op", RESTART)).refusal(permission=RESTART, scope=SCOPE) == ""
    assert Actor.portal(_staff("viewer")).refusal(permission=RESTART, scope=SCOPE) == f"the user lacks {RESTART}"
    assert Actor.cli("root").refusal(permission=RESTART) == ""


def test_the_services_decide_themselves():
    """No caller passes ``allowed=`` or ``refusal=`` any more: the actor is enough."""
    for service in (services.container_restart, services.container_health_check_run):
        parameters = inspect.signature(service).parameters
        assert "actor" in parameters and not {"allowed", "refusal", "token", "user"} & set(parameters)
