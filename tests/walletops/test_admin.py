"""Tokens in the admin (secret shown once, revocable) and the read-only restart audit."""

from http import HTTPStatus

import pytest

from opsportal.api.models import ApiToken
from walletops.models import RestartAudit

pytestmark = pytest.mark.django_db


def test_staff_create_a_token_and_see_its_secret_once(admin_client, admin_user):
    response = admin_client.post(
        "/admin/opsapi/apitoken/add/", {"name": "grafana", "scope_choices": ["read"], "owner": ""}, follow=True
    )
    assert response.status_code == HTTPStatus.OK
    token = ApiToken.objects.get(name="grafana")
    assert (token.scope_list, token.owner) == (["read"], admin_user)
    secret = response.context["secret"]
    assert secret.startswith(f"wo_{token.prefix}_") and len(secret) > 40
    assert f'value="{secret}"'.encode() in response.content and b'id="token-copy"' in response.content
    assert secret not in response.cookies.output() and secret not in str(dict(admin_client.session))
    page = admin_client.get(f"/admin/opsapi/apitoken/{token.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert secret.encode() not in page.content  # shown once: never again
    assert secret not in (token.secret_hash, token.prefix)


def test_a_token_needs_a_scope(admin_client):
    response = admin_client.post("/admin/opsapi/apitoken/add/", {"name": "none"})
    assert response.status_code == HTTPStatus.OK  # the form again, with the error
    assert not ApiToken.objects.exists()


def test_staff_revoke_tokens(admin_client, token_for):
    token_for("read", name="old")
    token = ApiToken.objects.get(name="old")
    admin_client.post("/admin/opsapi/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_restart_audit_is_read_only(admin_client):
    RestartAudit.objects.create(actor="ops", env="staging", container="c", outcome="refused")
    assert admin_client.get("/admin/walletops/restartaudit/").status_code == HTTPStatus.OK
    assert admin_client.get("/admin/walletops/restartaudit/add/").status_code == HTTPStatus.FORBIDDEN


def test_the_secret_page_answers_a_redirect_and_a_reload_shows_it_no_more_and_issues_nothing(admin_client):
    """#21 part 4: reloading the page that showed a new token's secret issued a second live token."""
    created = admin_client.post("/admin/opsapi/apitoken/add/", {"name": "grafana", "scope_choices": ["read"]})
    assert created.status_code == HTTPStatus.FOUND
    token = ApiToken.objects.get(name="grafana")
    assert created["Location"] == f"/admin/opsapi/apitoken/{token.pk}/issued/"
    shown = admin_client.get(created["Location"])
    secret = shown.context["secret"]
    assert secret.startswith(f"wo_{token.prefix}_") and f'value="{secret}"'.encode() in shown.content
    assert "no-store" in shown["Cache-Control"]
    reloaded = admin_client.get(created["Location"])
    assert reloaded.status_code == HTTPStatus.OK and reloaded.context["secret"] is None
    assert secret.encode() not in reloaded.content and b'id="token-shown"' in reloaded.content
    assert ApiToken.objects.count() == 1
    from opsportal.api.tokens import api_token_authenticate

    assert api_token_authenticate(secret) == token  # the secret shown is the one that works
