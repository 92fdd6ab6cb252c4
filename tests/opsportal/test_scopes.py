"""Token scopes per family, registered by the apps (``opsportal.api.scopes``), and the rename of ``restart``."""

import importlib

import pytest
from django.apps import apps as installed
from django.contrib.auth.models import Permission, User

from opsportal.api import scopes
from opsportal.api.models import ApiToken
from opsportal.api.tokens import api_token_create, scope_problems

FAMILIES = {
    "read": (),
    "containers:restart": ("walletops.restart_container",),
    "containers:check": ("walletops.run_health_check",),
    "plannings:operate": ("plannings.operate_plannings",),
    "jobs:control": ("plannings.control_jobs",),
    "alerts:mute": ("alerts.acknowledge_alert", "alerts.add_mute", "alerts.delete_mute"),
    "alerts:test": ("alerts.change_channel",),
    "deploys:write": ("walletops.record_deploy_events",),
}


def test_the_apps_register_their_families_with_the_permissions_each_needs():
    assert {name: scopes.scope_get(name).needs for name in scopes.scopes_known()} == FAMILIES
    for needs in FAMILIES.values():  # every permission named exists
        for perm in needs:
            app_label, codename = perm.split(".")
            assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), perm


pytestmark = pytest.mark.django_db


def test_every_family_fits_one_token():
    token = api_token_create(name="all", scopes=list(FAMILIES)).token
    assert sorted(ApiToken.objects.get(pk=token.pk).scope_list) == sorted(FAMILIES)


def test_the_old_restart_name_is_read_as_containers_restart_on_input():
    assert api_token_create(name="old-script", scopes=["read", "restart"]).token.scope_list == [
        "read",
        "containers:restart",
    ]
    viewer = User.objects.create_user("viewer", is_staff=True)
    assert scope_problems(viewer, ["restart"], label="viewer") == [
        "The 'containers:restart' scope cannot be granted: viewer lacks walletops.restart_container "
        "(a token never does more than the people who issue and own it)."
    ]


def test_stored_restart_tokens_become_containers_restart_and_check():
    migration = importlib.import_module("opsportal.api.migrations.0002_scope_families")
    old = ApiToken.objects.create(name="old", prefix="aaaa", secret_hash="x", scopes="read,restart")
    reader = ApiToken.objects.create(name="ro", prefix="bbbb", secret_hash="y", scopes="read")
    migration.forwards(installed, None)
    old.refresh_from_db()
    reader.refresh_from_db()
    assert (old.scopes, reader.scopes) == ("read,containers:restart,containers:check", "read")
    migration.backwards(installed, None)
    old.refresh_from_db()
    assert old.scopes == "read,restart"
