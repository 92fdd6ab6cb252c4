"""No 500 from any input: each bad input answers a documented 4xx, JSON in the endpoint's own shape under /api/.

The NUL-byte tests matter on PostgreSQL (psycopg refuses NUL in text and raised a
500 before the guard); the rest are portable. The Docker-backed cases (health check
on a stopped container) are in ``tests/walletops/test_bad_input.py``.
"""

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

HEALTH = "/api/ops/plannings"
NOT_FOUND = b'{"error":"NOT_FOUND"}'
OPS = "/api/v1/admin/ops"
TOKEN = "t" * 40


@pytest.fixture
def ops_token(settings):
    settings.OPS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def restarter_api(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'restart')}")
    return api_client


@pytest.fixture
def operator(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True, is_superuser=True)
    user.user_permissions.add(Permission.objects.get(codename="restart_container"))
    client.force_login(user)
    client.raise_request_exception = False  # a 500 is an answer to assert on, not an exception here
    return client


def _ops_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"code", "detail"} and body["code"] == code, body
    return body


# --- The plannings health endpoint: refusals are one answer, byte for byte -----------------------


REFUSED = [
    {},  # no token
    {"HTTP_X_OPS_TOKEN": ""},
    {"HTTP_X_OPS_TOKEN": "wrong"},
]
VARIANTS = [
    ("", {}),
    ("?format=xml", {}),
    ("?format=api", {}),
    ("?format=json", {}),
    ("", {"HTTP_ACCEPT": "text/html"}),
    ("", {"HTTP_ACCEPT": "application/xml"}),
    ("?format=api", {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}),
]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize(("query", "headers"), VARIANTS)
@pytest.mark.parametrize("credentials", REFUSED)
def test_every_refusal_is_the_same_404_whatever_the_format_accept_or_method(
    client, ops_token, method, query, headers, credentials
):
    response = getattr(client, method)(HEALTH + query, **headers, **credentials)
    assert response.status_code == 404
    assert response.content == NOT_FOUND
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(("query", "headers"), VARIANTS)
def test_an_accepted_token_gets_json_whatever_the_format_or_accept(client, ops_token, query, headers):
    response = client.get(HEALTH + query, HTTP_X_OPS_TOKEN=TOKEN, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["status"] in {"healthy", "degraded", "unhealthy"}


def test_an_accepted_token_with_another_method_gets_405_in_the_endpoints_shape(client, ops_token):
    for method in ("post", "delete", "put", "options"):
        response = getattr(client, method)(HEALTH, HTTP_X_OPS_TOKEN=TOKEN)
        assert response.status_code == 405
        assert response.content == b'{"error":"METHOD_NOT_ALLOWED"}'
        assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", [HEALTH + "/", "/api/ops/", "/api/ops/plannings/x", "/api/ops/queues"])
def test_unknown_routes_under_api_ops_answer_exactly_like_a_refusal(client, ops_token, path):
    response = client.get(path, HTTP_X_OPS_TOKEN=TOKEN)
    assert (response.status_code, response.content, response["Content-Type"]) == (404, NOT_FOUND, "application/json")


# --- Unknown routes, methods, hosts and bodies under /api/ ------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/", "/api/nope", f"{OPS}/", f"{OPS}/nope", f"{OPS}/containers/x/y/z", f"{OPS}/containers/"]
)
def test_unknown_api_routes_answer_json_in_the_wallet_ops_shape(client, path):
    body = _ops_error(client.get(path), 404, "not_found")
    assert path in body["detail"]


def test_unknown_portal_routes_keep_djangos_html_404(client):
    response = client.get("/nope/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_method_an_ops_endpoint_lacks_is_405_in_the_shape(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    for method in ("post", "put", "delete", "patch"):
        _ops_error(getattr(api_client, method)(f"{OPS}/containers"), 405, "method_not_allowed")
    _ops_error(api_client.get(f"{OPS}/containers/x/restart"), 405, "method_not_allowed")


def test_an_unknown_format_on_an_ops_endpoint_is_400_naming_format(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    for query in ("?format=xml", "?format=api"):
        body = _ops_error(api_client.get(f"{OPS}/deploy-info{query}"), 400, "invalid_param")
        assert body["detail"].startswith("format:")


@pytest.mark.parametrize(
    ("path", "expected"),
    [(f"{OPS}/containers", None), (HEALTH, b'{"error":"BAD_REQUEST"}')],
)
def test_a_disallowed_host_is_400_in_the_endpoints_shape(client, path, expected):
    response = client.get(path, HTTP_HOST="evil.example")
    if expected is None:
        _ops_error(response, 400, "bad_request")
    else:
        assert (response.status_code, response.content, response["Content-Type"]) == (400, expected, "application/json")


def test_a_disallowed_host_on_the_portal_keeps_djangos_400_page(client):
    response = client.get("/admin/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_a_restart_body_nested_too_deeply_is_400_not_a_recursion_error(restarter_api):
    response = restarter_api.post(
        f"{OPS}/containers/wallet-core-staging-web-abc1234/restart", "[" * 100_000, content_type="application/json"
    )
    assert _ops_error(response, 400, "invalid_param")["detail"].startswith("body:")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{nope", "application/json"),
        (b"\xff\xfe{\x00", "application/json"),  # not UTF-8
        ('{"timeout": NaN}', "application/json"),
        ("{}", "application/json; charset=utf-32"),
    ],
)
def test_a_restart_body_that_is_not_json_is_400_naming_the_body(restarter_api, body, content_type):
    response = restarter_api.post(f"{OPS}/containers/x/restart", body, content_type=content_type)
    assert _ops_error(response, 400, "invalid_param")["detail"].startswith("body:")


def test_a_restart_body_over_the_upload_limit_is_413(restarter_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"timeout": 1, "padding": "x" * 2000})
    response = restarter_api.post(f"{OPS}/containers/x/restart", body, content_type="application/json")
    _ops_error(response, 413, "request_too_large")


def test_too_many_query_parameters_are_400_in_the_shape(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    query = "&".join(f"p{i}=1" for i in range(1100))
    _ops_error(api_client.get(f"{OPS}/deploy-info?{query}"), 400, "invalid_param")


def test_a_portal_form_over_the_upload_limit_is_a_413_page(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/admin/login/", {"username": "x" * 2000, "password": "pw"})
    assert response.status_code == 413 and response["Content-Type"].startswith("text/html")


def test_a_server_error_under_api_is_json_in_the_endpoints_shape(rf: RequestFactory):
    from opsportal.portal import errors

    response = errors.server_error(rf.get(f"{OPS}/containers"))
    assert response.status_code == 500 and json.loads(response.content)["code"] == "server_error"
    assert errors.server_error(rf.get(HEALTH)).content == b'{"error":"INTERNAL_SERVER_ERROR"}'
    assert errors.server_error(rf.get("/admin/"))["Content-Type"].startswith("text/html")


# --- The portal's own pages: bad names and parameters are 400 pages, never NoReverseMatch ------------


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("get", "/admin/ops/containers/a%20b/restart/", b"invalid_param: name:"),
        ("post", "/admin/ops/containers/a%20b/restart/", b"invalid_param: name:"),
        ("get", "/admin/ops/containers/x/restart/?env=nope", b"invalid_param: env:"),
        ("get", "/admin/ops/containers/a%20b/", b"invalid_param: name:"),
        ("get", "/admin/ops/containers/x/?env=nope", b"invalid_param: env:"),
        ("get", "/admin/ops/containers/a%20b/logs/", b"invalid_param: name:"),
        ("get", "/admin/ops/containers/x/logs/?env=nope", b"invalid_param: env:"),
        ("post", "/admin/ops/containers/a%20b/health-check/", b"invalid_param: name:"),
        ("post", "/admin/ops/containers/x/health-check/?env=nope", b"invalid_param: env:"),
        ("get", "/admin/ops/containers/?env=nope", b"invalid_param: env:"),
        ("get", "/admin/ops/containers/?include_stats=%C2%B2", b"invalid_param: include_stats:"),
    ],
)
def test_bad_container_names_and_parameters_are_400_pages_with_the_reason(operator, method, path, message):
    response = getattr(operator, method)(path)
    assert response.status_code == 400, response.content[:300]
    assert message in response.content


def test_a_superscript_refresh_period_keeps_the_default(operator, settings, tmp_path):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/no-docker.sock"], "production": []}
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = "http://127.0.0.1:9"
    from opsportal.portal.views import _refresh_seconds

    assert [_refresh_seconds(raw) for raw in ("²", "٣", "1e3", " 5", "", "30", "0030", "99999")] == [
        15, 15, 15, 15, 15, 30, 30, 15,
    ]  # fmt: skip
    response = operator.get("/admin/ops/?every=²")
    assert response.status_code == 200 and b"Panels refresh every 15 s" in response.content


@pytest.mark.parametrize("path", ["/admin/ops/panels/nope/", "/admin/ops/jobs/nope/", "/admin/nope/"])
def test_unknown_portal_pages_are_404(operator, path):
    assert operator.get(path).status_code == 404


# --- NUL bytes: one guard, before anything hands them to PostgreSQL ---------------------------------


def _changelists():
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    ]


def _filter_parameters(request, model_admin) -> list[str]:
    changelist = model_admin.get_changelist_instance(request)
    return sorted({param for spec in changelist.filter_specs for param in spec.expected_parameters()})


@pytest.fixture
def some_rows():
    planning = factories.planning_make("iut.g1.a")
    factories.backup_make(planning)
    return planning


def test_every_admin_changelist_refuses_nul_in_search_filters_ids_and_actions(operator, some_rows):
    superuser = User.objects.get(username="operator")
    walked = 0
    for url in _changelists():
        model_admin = next(ma for m, ma in admin.site._registry.items() if url.endswith(f"/{m._meta.model_name}/"))
        request = RequestFactory().get(url)
        request.user = superuser
        checks = [f"{url}?q=%00", f"{url}?q=a%00b", f"{url}%00/change/", f"{url}x%00/change/", f"{url}%00/delete/"]
        checks += [f"{url}?{param}=%00" for param in _filter_parameters(request, model_admin)]
        for path in checks:
            response = operator.get(path)
            assert response.status_code == 400, (path, response.status_code)
            assert b"contains a NUL byte" in response.content
            walked += 1
        action = operator.post(url, {"action": "delete_selected", "_selected_action": ["\x00"], "index": "0"})
        assert action.status_code == 400, url
    assert walked > 30  # every changelist, each with its filters


@pytest.mark.parametrize(
    "path",
    [
        "/admin/plannings/planning/?host=%00",
        "/admin/plannings/planning/%00/change/",
        "/admin/plannings/planning/?q=%00",
        "/admin/ops/?every=%00",
        "/admin/ops/containers/?env=%00",
        "/admin/ops/containers/%00/",
        "/admin/ops/containers/x/logs/?grep=%00",
        "/admin/ops/panels/plannings/?x=%00",
        "/admin/ops/jobs/?%00=1",
    ],
)
def test_nul_in_portal_paths_and_parameters_is_a_400_page_naming_the_field(operator, some_rows, path):
    response = operator.get(path)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"contains a NUL byte" in response.content


def test_nul_in_the_named_filter_is_reported_by_name(operator, some_rows):
    assert b"host: contains a NUL byte" in operator.get("/admin/plannings/planning/?host=%00").content


def test_nul_in_a_session_cookie_is_400_not_a_database_error(client, some_rows):
    client.cookies["sessionid"] = "\x00" * 32
    response = client.get("/admin/plannings/planning/")
    assert response.status_code == 400 and b"cookie sessionid" in response.content


def test_nul_in_a_login_form_is_400(client):
    assert client.post("/admin/login/", {"username": "a\x00", "password": "pw"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        (f"{OPS}/containers?env=%00", {}),
        (f"{OPS}/containers/%00", {}),
        (f"{OPS}/containers/x/logs?grep=%00", {}),
        (f"{OPS}/queues", {"HTTP_AUTHORIZATION": "Bearer wo_\x00abc_def"}),
    ],
)
def test_nul_under_the_ops_api_is_400_invalid_param(api_client, token_for, path, extra):
    api_client.credentials(HTTP_AUTHORIZATION=extra.get("HTTP_AUTHORIZATION") or f"Bearer {token_for('read')}")
    body = _ops_error(api_client.get(path), 400, "invalid_param")
    assert body["detail"].endswith("contains a NUL byte")


def test_nul_under_the_health_endpoint_is_400_in_its_shape(client, ops_token):
    response = client.get(f"{HEALTH}?x=%00", HTTP_X_OPS_TOKEN=TOKEN)
    assert (response.status_code, response.content) == (400, b'{"error":"BAD_REQUEST"}')


GARBAGE = ["x'\"<>²", "9" * 30]


def test_every_admin_changelist_survives_garbage_in_every_filter_and_list_parameter(operator, some_rows):
    superuser = User.objects.get(username="operator")
    for url in _changelists():
        model_admin = next(ma for m, ma in admin.site._registry.items() if url.endswith(f"/{m._meta.model_name}/"))
        request = RequestFactory().get(url)
        request.user = superuser
        params = [*_filter_parameters(request, model_admin), "q", "o", "p", "e", "all", "_to_field", "_popup"]
        for param in params:
            for value in GARBAGE:
                response = operator.get(url, {param: value})
                assert response.status_code in (200, 302, 400), (url, param, value, response.status_code)
        for suffix in ("x/change/", "9999999999999999999999/change/", "x/history/", "x/delete/", "²/change/"):
            assert operator.get(url + suffix).status_code in (302, 400, 403, 404), url + suffix


def test_an_unknown_format_on_metrics_is_404_in_the_wallet_ops_shape(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    _ops_error(api_client.get("/metrics?format=xml"), 404, "not_found")


def test_unknown_api_routes_are_json_with_debug_on_too(client, settings):
    settings.DEBUG = True  # Django's own 404 page would be its HTML technical page
    _ops_error(client.get(f"{OPS}/nope"), 404, "not_found")
    response = client.get("/api/ops/nope")
    assert (response.status_code, response.content) == (404, NOT_FOUND)


def test_an_unknown_api_route_is_404_whatever_the_method_never_a_csrf_page():
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "delete"):
        _ops_error(getattr(csrf_client, method)(f"{OPS}/nope"), 404, "not_found")


def test_api_pages_without_their_slash_still_redirect(client):
    for path in ("/api/docs", "/api/schema"):
        response = client.get(path, {"x": "1"})
        assert (response.status_code, response["Location"]) == (301, f"{path}/?x=1")
