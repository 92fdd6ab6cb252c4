"""Login throttling (django-axes): per user name and per address, a clear lockout page, unlocked by axes_reset.

The fast tests drive the login form through Django's test client; the browser test logs in
with Chromium against the dev server, as an operator would.
"""

import subprocess
import sys
from http import HTTPStatus
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory

from opsportal.login_throttle import client_ip

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/"
PASSWORD = "a-long-enough-password"
LOCKED = "Too many failed logins"


def _post(client, username: str, password: str, address: str = "127.0.0.1", **headers):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address, **headers)  # fmt: skip


@pytest.fixture
def people(db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    return [User.objects.create_user(name, password=PASSWORD, is_staff=True) for name in ("ana", "bob")]


# --- Fast: the login form through the test client ---------------------------------------------------


def test_past_the_limit_even_the_right_password_is_refused_with_a_page_saying_why(client, people):
    for _ in range(2):
        assert _post(client, "ana", "wrong").status_code == HTTPStatus.OK  # the form again
    locked = _post(client, "ana", "wrong")  # the third failure reaches the limit
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS and LOCKED in locked.content.decode()
    right = _post(client, "ana", PASSWORD)
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = right.content.decode()
    assert LOCKED in page and "axes_reset" in page and "<strong>ana</strong>" in page
    assert "_auth_user_id" not in client.session
    # Per address: another user from the same address is refused too; per user name: ana from elsewhere too.
    assert _post(client, "bob", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert _post(client, "ana", PASSWORD, address="10.0.0.9").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Bob from another address is not concerned.
    assert _post(client, "bob", PASSWORD, address="10.0.0.9").status_code == HTTPStatus.FOUND


def test_axes_reset_unlocks_at_once(client, people):
    for _ in range(3):
        _post(client, "ana", "wrong")
    assert _post(client, "ana", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    call_command("axes_reset", stdout=StringIO())
    assert _post(client, "ana", PASSWORD).status_code == HTTPStatus.FOUND


def test_the_test_clients_login_still_works_and_a_locked_user_name_stays_locked_for_it(client, people):
    assert client.login(username="bob", password=PASSWORD)  # authenticate() without a request
    client.logout()
    for _ in range(3):
        _post(client, "ana", "wrong", address="10.0.0.7")
    assert not client.login(username="ana", password=PASSWORD)


def test_behind_kamal_proxy_failures_count_against_the_client_not_the_proxy(client, people, settings):
    settings.OPSPORTAL_TRUSTED_PROXIES = 1
    settings.OPSPORTAL_TRUSTED_PROXY_NETWORKS = ["172.16.0.0/12"]  # the kamal Docker network
    proxy = "172.18.0.2"  # every request arrives from kamal-proxy's address
    for _ in range(3):
        _post(client, "ana", "wrong", address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert _post(client, "bob", PASSWORD, address=proxy,
                 HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == HTTPStatus.FOUND  # fmt: skip
    forged = "198.51.100.7, 203.0.113.5"  # a client cannot pick the address it is counted against
    assert _post(client, "bob", PASSWORD, address=proxy,
                 HTTP_X_FORWARDED_FOR=forged).status_code == HTTPStatus.TOO_MANY_REQUESTS  # fmt: skip


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "203.0.113.5", "10.0.0.1"),  # no trusted proxy: the header is the client's, ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # what kamal-proxy appended, not what the client wrote
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.3", "203.0.113.5"),
        (1, "", "10.0.0.1"),  # no header: the connection
        (1, "not-an-address", "10.0.0.1"),
        (2, "203.0.113.5", "10.0.0.1"),  # fewer entries than proxies: the connection
    ],
)
def test_the_client_address(settings, proxies, forwarded, expected):
    settings.OPSPORTAL_TRUSTED_PROXIES = proxies
    settings.OPSPORTAL_TRUSTED_PROXY_NETWORKS = ["10.0.0.0/8"]
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# --- In Chromium, against the dev server ------------------------------------------------------------


@pytest.fixture
def portal(live_portal):
    return live_portal(deploy_info={"current_tag": "v1", "previous_tag": "v0", "commit_sha": "4f1c2e9a7b3d",
                                    "deployed_by": "ana", "deployed_at": "2026-11-23T09:12:00Z"},
                       OPSPORTAL_LOGIN_FAILURE_LIMIT="3", OPSPORTAL_LOGIN_COOLOFF_MINUTES="30")  # fmt: skip


@pytest.fixture
def page(browser, portal):
    context = browser.new_context(base_url=portal.url, viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _log_in(page, username: str, password: str) -> str:
    page.goto(LOGIN)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page.inner_text("#content")


@pytest.mark.postgres_only
def test_a_browser_is_locked_out_after_the_limit_then_unlocked_by_axes_reset(page, portal, subprocess_env,
                                                                            screenshots):  # fmt: skip
    hasher = PBKDF2PasswordHasher()  # the dev server's hasher (the tests' own settings use a fast MD5 one)
    for name in ("ana", "bob"):
        User.objects.create(username=name, is_staff=True, is_superuser=True,
                            password=hasher.encode(PASSWORD, hasher.salt(), iterations=1000))  # fmt: skip
    for _ in range(2):
        assert "Please enter the correct username and password" in _log_in(page, "ana", "wrong")
    assert LOCKED in _log_in(page, "ana", "wrong")
    refused = _log_in(page, "ana", PASSWORD)  # the right password, too late
    assert LOCKED in refused and "axes_reset" in refused and "ana" in refused
    assert page.locator("#user-tools").count() == 0  # not logged in
    page.screenshot(path=screenshots / "login-locked.png", full_page=True)
    assert LOCKED in _log_in(page, "bob", PASSWORD)  # the same browser (address): another user is refused too

    result = subprocess.run([sys.executable, "manage.py", "axes_reset"], cwd=ROOT, env=subprocess_env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    welcome = _log_in(page, "ana", PASSWORD)
    assert LOCKED not in welcome and page.locator("#user-tools").count() == 1
