"""``make run``'s demo admin: created once, and a restart keeps the operator logged in."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_a_restart_keeps_the_demo_admins_sessions(client, monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("OPSPORTAL_ADMIN_PASSWORD", "demo-password-1")
    call_command("ensure_demo_admin", stdout=StringIO())
    assert client.login(username="admin", password="demo-password-1")
    assert client.get("/admin/").status_code == 200
    before = get_user_model().objects.get(username="admin").password
    call_command("ensure_demo_admin", stdout=StringIO())  # the next `make run`
    assert get_user_model().objects.get(username="admin").password == before
    assert client.get("/admin/").status_code == 200  # still logged in: the session's hash still matches


@pytest.mark.django_db
def test_a_changed_demo_password_is_set(client, monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("OPSPORTAL_ADMIN_PASSWORD", "demo-password-1")
    call_command("ensure_demo_admin", stdout=StringIO())
    monkeypatch.setenv("OPSPORTAL_ADMIN_PASSWORD", "demo-password-2")
    call_command("ensure_demo_admin", stdout=StringIO())
    assert client.login(username="admin", password="demo-password-2")
