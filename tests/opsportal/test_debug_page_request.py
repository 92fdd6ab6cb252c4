"""``make run``'s debug page (DEBUG on) shows the request without its credentials: ``?token=`` and other
secret-named parameters (in the GET table, ``QUERY_STRING`` and the URLs), a POSTed password and CSRF
token, the CSRF and session cookies (also as ``META["CSRF_COOKIE"]``), ``Authorization`` and ``X-Ops-Token``."""

import secrets

import pytest
from django.test import Client, override_settings
from django.urls import include, path

MASK = "********************"


def boom(request):
    raise ValueError("boom")


urlpatterns = [path("boom/", boom), path("", include("opsportal.urls"))]


def _secret(label: str) -> str:
    # Made at run time: the debug page quotes the source lines around the raise.
    return f"{label}{secrets.token_hex(8)}"


@pytest.fixture
def client_500():
    with override_settings(DEBUG=True, ROOT_URLCONF=__name__):
        yield Client(raise_request_exception=False)


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_page_masks_the_requests_credentials(client_500, accept):
    hidden = {name: _secret(name) for name in ("qtoken", "qkey", "password", "formcsrf", "cookiecsrf", "session")}
    hidden |= {name: _secret(name) for name in ("bearer", "opstoken", "refsig")}
    client_500.cookies["csrftoken"] = hidden["cookiecsrf"]
    client_500.cookies["sessionid"] = hidden["session"]
    query = f"token={hidden['qtoken']}&page=2&api_key={hidden['qkey']}"
    response = client_500.post(
        f"/boom/?{query}",
        {"username": "ana", "password": hidden["password"], "csrfmiddlewaretoken": hidden["formcsrf"]},
        HTTP_ACCEPT=accept,
        HTTP_AUTHORIZATION=f"Bearer {hidden['bearer']}",
        HTTP_X_OPS_TOKEN=hidden["opstoken"],
        HTTP_REFERER=f"https://ops.example.test/admin/?signature={hidden['refsig']}",
    )
    assert response.status_code == 500
    page = response.content.decode()
    assert "ValueError" in page and ("<html" in page) == (accept == "text/html")
    leaked = [name for name, value in hidden.items() if value in page]
    assert leaked == []
    # What is no secret stays readable: the page is still a debugging aid.
    assert "ana" in page and "page=2" in page
    assert "token=&#x27;" not in page  # nothing masked to an empty value either
