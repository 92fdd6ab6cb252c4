"""The API kit (``opsportal.api``): one error shape installed once, the schema's refusal in it, route names
of their own, and the token model's move that keeps every token (and every permission) as it was."""

import hashlib
from http import HTTPStatus

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from opsportal.api.errors import api_exception_handler
from opsportal.api.models import ApiToken
from opsportal.api.tokens import api_token_authenticate


def _patterns(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _api_views():
    return {
        route: entry.callback.view_class
        for route, entry in _patterns()
        if route.startswith("api/v1/") and hasattr(entry.callback, "view_class")
    }


def test_every_api_v1_view_answers_errors_through_the_one_handler_in_settings():
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "opsportal.api.errors.api_exception_handler"
    views = _api_views()
    assert len(views) >= 12
    chose_their_own = sorted(
        route for route, view in views.items() if view.get_exception_handler is not APIView.get_exception_handler
    )
    assert chose_their_own == []
    assert APIView().get_exception_handler() is api_exception_handler


@pytest.mark.django_db
def test_the_schema_refuses_a_logged_out_reader_in_the_json_error_shape(client):
    response = client.get("/api/schema/")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "forbidden", "detail": "Authentication credentials were not provided."}


def test_the_api_routes_have_names_of_their_own():
    assert reverse("api-containers") == "/api/v1/admin/ops/containers"
    assert reverse("api-container-restart", args=["web-1"]) == "/api/v1/admin/ops/containers/web-1/restart"
    assert reverse("api-audit") == "/api/v1/admin/ops/audit"
    api_names = {entry.name for route, entry in _patterns() if route.startswith("api/") and entry.name}
    admin_names = {entry.name for route, entry in _patterns() if route.startswith("admin/") and entry.name}
    assert api_names and admin_names and not api_names & admin_names


BEFORE = [("walletops", "0004_health_check_permission"), ("opsapi", None)]
AFTER = [("walletops", "0005_apitoken_moved_to_opsapi"), ("opsapi", "0001_apitoken_from_walletops")]


# The groups the migrations made, taken by an earlier transactional test's flush, are back (tests/conftest.py).
@pytest.mark.django_db(transaction=True)
def test_the_token_model_moves_in_state_only_keeping_every_token_its_ledger_and_its_permissions(
    migrations_restored,
):
    """A token issued before the move authenticates after it; its restart rows keep pointing at it; a person
    granted ``walletops.add_apitoken`` holds ``opsapi.add_apitoken`` (the same permission row)."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state([("walletops", "0004_health_check_permission")]).apps
    secret = "wo_0123456789ab_the-rest-of-the-secret"
    token = old.get_model("walletops", "ApiToken").objects.create(
        name="old", prefix="0123456789ab", secret_hash=hashlib.sha256(secret.encode()).hexdigest(), scopes="read"
    )
    old.get_model("walletops", "RestartAudit").objects.create(
        actor="ops", token_id=token.pk, env="production", container="web-1", outcome="refused"
    )
    permission = old.get_model("auth", "Permission").objects.get(
        content_type__app_label="walletops", codename="add_apitoken"
    )
    clerk = old.get_model("auth", "User").objects.create(username="clerk", is_staff=True)
    clerk.user_permissions.add(permission)

    MigrationExecutor(connection).migrate(AFTER)

    found = api_token_authenticate(secret)
    assert found is not None and found.pk == token.pk and ApiToken._meta.db_table == "walletops_api_token"
    ledger = MigrationExecutor(connection).loader.project_state(AFTER).apps.get_model("walletops", "RestartAudit")
    assert ledger.objects.get(container="web-1").token_id == found.pk  # (then copied to the audit trail: 0006)
    assert User.objects.get(username="clerk").has_perm("opsapi.add_apitoken")
