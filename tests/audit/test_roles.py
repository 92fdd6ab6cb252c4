"""The Viewer, Operator and Admin groups come ready after migrate, and each lets its members do exactly what the
"Roles" in docs/audit.md says through the portal."""

import importlib
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from plannings import runtime
from tests import factories

pytestmark = pytest.mark.django_db
ROLES = importlib.import_module("opsportal.audit.migrations.0002_roles")


def _perms(group: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def _member(client, role: str):
    user = User.objects.create_user(f"{role.lower()}-user", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


@pytest.fixture
def no_docker(settings, tmp_path):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/no-docker.sock"], "production": []}


def test_the_three_groups_exist_with_the_permissions_each_role_implies():
    viewer, operator, admin = _perms("Viewer"), _perms("Operator"), _perms("Admin")
    assert {"audit.view_auditevent", "plannings.view_planning", "walletops.view_restartaudit"} <= viewer
    assert all(name.split(".")[1].startswith("view_") for name in viewer)
    assert {"alerts.view_alert", "alerts.view_notification", "alerts.view_rule", "alerts.view_channel"} <= viewer
    assert operator - viewer == {
        "plannings.operate_plannings", "plannings.control_jobs", "walletops.restart_container",
        "walletops.run_health_check", "opsapi.add_apitoken", "opsapi.delete_apitoken",
        "alerts.add_mute", "alerts.delete_mute", "alerts.acknowledge_alert",
        "alerts.add_maintenancewindow", "alerts.change_maintenancewindow", "alerts.delete_maintenancewindow",
    }  # fmt: skip
    assert "alerts.view_maintenancewindow" in viewer
    assert admin - operator == {
        "opsapi.manage_all_tokens", "auth.view_user", "auth.view_group",
        "alerts.add_rule", "alerts.change_rule", "alerts.delete_rule",
        "alerts.add_channel", "alerts.change_channel", "alerts.delete_channel",
    }  # fmt: skip
    assert not any(name.startswith("auth.") and not name.startswith("auth.view_") for name in admin)


def test_the_migration_goes_back_and_forth_keeping_what_an_operator_added():
    apps = MigrationExecutor(connection).loader.project_state([("audit", "0002_roles")]).apps
    Group.objects.get(name="Operator").permissions.add(Permission.objects.get(codename="change_planning"))
    ROLES.roles_create(apps, None)  # again: adds what is missing, takes nothing away
    assert "plannings.change_planning" in _perms("Operator")
    ROLES.roles_delete(apps, None)
    assert not Group.objects.filter(name__in=ROLES.ROLES).exists()
    ROLES.roles_create(apps, None)
    assert Group.objects.filter(name__in=ROLES.ROLES).count() == 3
    # auth.view_user, not a token permission: run today, 0002 sees the token model where it was then (walletops).
    assert "auth.view_user" in _perms("Admin") and "plannings.change_planning" not in _perms("Operator")


def test_a_viewer_sees_every_page_and_can_do_nothing(client, no_docker):
    _member(client, "Viewer")
    for page in ("/admin/plannings/planning/", "/admin/audit/auditevent/", "/admin/ops/jobs/",
                 "/admin/walletops/restartaudit/", "/admin/opsapi/apitoken/"):  # fmt: skip
        assert client.get(page).status_code == HTTPStatus.OK, page
    assert b"Refresh now" not in client.get("/admin/plannings/planning/").content
    assert client.post("/admin/ops/jobs/pause/").status_code == HTTPStatus.FORBIDDEN and not runtime.jobs_paused()
    assert client.get("/admin/ops/containers/x-web-1/restart/").status_code == HTTPStatus.FORBIDDEN
    assert client.post("/admin/ops/containers/x-web-1/health-check/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/admin/opsapi/apitoken/add/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/admin/auth/user/").status_code == HTTPStatus.FORBIDDEN


def test_an_operator_acts_on_jobs_plannings_containers_and_their_own_tokens(client, no_docker):
    _member(client, "Operator")
    factories.planning_make("s.a")
    assert b"Refresh now" in client.get("/admin/plannings/planning/").content
    client.post("/admin/ops/jobs/pause/")
    assert runtime.jobs_paused()
    assert client.get("/admin/ops/containers/x-web-1/restart/").status_code == HTTPStatus.OK
    # Allowed: the engine's absence answers, not a refusal.
    assert client.post("/admin/ops/containers/x-web-1/health-check/").status_code == HTTPStatus.SERVICE_UNAVAILABLE
    add = client.get("/admin/opsapi/apitoken/add/")
    assert add.status_code == HTTPStatus.OK and b'name="owner"' not in add.content  # their own tokens only
    assert client.get("/admin/auth/user/").status_code == HTTPStatus.FORBIDDEN


def test_an_admin_also_issues_tokens_for_others_and_sees_users_but_cannot_change_them(client):
    _member(client, "Admin")
    assert b'name="owner"' in client.get("/admin/opsapi/apitoken/add/").content
    assert client.get("/admin/auth/user/").status_code == HTTPStatus.OK
    assert client.get("/admin/auth/user/add/").status_code == HTTPStatus.FORBIDDEN
    user = User.objects.get(username="admin-user")
    response = client.post(f"/admin/auth/user/{user.pk}/change/", {"username": "admin-user", "is_superuser": "on"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    user.refresh_from_db()
    assert not user.is_superuser


def test_an_operator_mutes_alerts_a_viewer_cannot_and_only_an_admin_edits_channels(client):
    assert _member(client, "Viewer").get("/admin/alerts/mute/add/").status_code == HTTPStatus.FORBIDDEN
    assert client.get("/admin/alerts/channel/").status_code == HTTPStatus.OK
    client.logout()
    assert _member(client, "Operator").get("/admin/alerts/mute/add/").status_code == HTTPStatus.OK
    assert client.get("/admin/alerts/channel/add/").status_code == HTTPStatus.FORBIDDEN
    client.logout()
    assert _member(client, "Admin").get("/admin/alerts/channel/add/").status_code == HTTPStatus.OK
