"""X-Forwarded-For counts for login throttling only on a connection from a trusted proxy network.

With the production default of one trusted proxy, a client that reached gunicorn directly and
wrote a new X-Forwarded-For at each try was counted against a new address each time: 30 user
names, 30 addresses, no lockout. Now the header is read only when the connection comes from
``OPSPORTAL_TRUSTED_PROXY_NETWORKS``; anyone else is counted against the connection's address.
"""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory

from opsportal.login_throttle import client_ip
from tests.opsportal.helpers import SAFE_PRODUCTION, manage_check

LOGIN = "/admin/login/"
PASSWORD = "a-long-enough-password"
DIRECT = "203.0.113.9"  # a client on the internet that reaches gunicorn's port itself
PROXY = "172.18.0.2"  # kamal-proxy on the kamal Docker network


def _attempts(client, peer: str) -> list[int]:
    """30 failed logins from ``peer``, each with another user name and another X-Forwarded-For."""
    return [
        client.post(
            LOGIN,
            {"username": f"guess{i}", "password": "wrong", "next": "/admin/"},
            REMOTE_ADDR=peer,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i + 1}",
        ).status_code
        for i in range(30)
    ]


@pytest.fixture
def production_proxies(db, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.OPSPORTAL_TRUSTED_PROXIES = 1  # the production default
    settings.OPSPORTAL_TRUSTED_PROXY_NETWORKS = ["127.0.0.0/8", "::1", "172.16.0.0/12"]
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)


def test_a_direct_client_rotating_the_header_is_locked_out_by_its_own_address(client, production_proxies):
    answers = _attempts(client, DIRECT)
    assert answers[:4] == [HTTPStatus.OK] * 4  # the form again
    assert answers[4:] == [HTTPStatus.TOO_MANY_REQUESTS] * 26  # the fifth failure reaches the limit
    right = client.post(LOGIN, {"username": "ana", "password": PASSWORD}, REMOTE_ADDR=DIRECT)
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # The proxy's own clients are not locked out with it.
    credentials = {"username": "ana", "password": PASSWORD}
    ok = client.post(LOGIN, credentials, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert ok.status_code == HTTPStatus.FOUND


def test_behind_the_trusted_proxy_each_forwarded_address_counts_on_its_own(client, production_proxies):
    assert HTTPStatus.TOO_MANY_REQUESTS not in _attempts(client, PROXY)


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("172.18.0.2", "198.51.100.7"),  # the kamal network: the address kamal-proxy appended
        ("127.0.0.1", "198.51.100.7"),  # a proxy on the same host
        ("::ffff:172.18.0.2", "198.51.100.7"),  # the same proxy, seen on a dual-stack socket
        ("::1", "198.51.100.7"),
        ("203.0.113.9", "203.0.113.9"),  # anyone else: the connection's address
        ("10.0.1.10", "10.0.1.10"),  # private, but not a configured proxy network
        ("", None),
    ],
)
def test_the_header_is_read_only_from_a_trusted_network(production_proxies, peer, expected):
    request = RequestFactory().post(LOGIN, REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert client_ip(request) == expected


def test_a_bad_network_stops_start_up_naming_the_variable():
    result = manage_check(**SAFE_PRODUCTION, OPSPORTAL_TRUSTED_PROXY_NETWORKS="10.0.0.0/8,kamal")
    assert result.returncode != 0
    assert "OPSPORTAL_TRUSTED_PROXY_NETWORKS: 'kamal' is not a network" in result.stderr
