"""Alert channels reach only public addresses (unless a network is allowed), follow no redirect, end
at one deadline for the whole send, and store errors that say what failed without the receiver's
words or the channel's secrets (issue #19, items 2, 3 and 5). Every receiver here is a real server
on loopback; the tests that check the refusals take loopback's allowance (tests/settings.py) away."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from opsportal.alerts.delivery import (
    ERROR_LONGEST,
    channel_test,
    channel_url_problem,
    error_masked,
    notifications_deliver,
)
from opsportal.alerts.egress import address_refusal
from opsportal.alerts.models import Alert, Channel, Notification, Rule
from opsportal.alerts.services import notifications_queue

pytestmark = pytest.mark.django_db
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


class RawReceiver:
    """A TCP server on loopback that reads one HTTP request per connection and answers with ``respond``
    (given the socket and the request's first line): free to answer anything, slowly, or not HTTP."""

    def __init__(self, respond):
        self.respond = respond
        self.requests: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.settimeout(30)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head.split(b"\r\n")[0].decode())
                self.respond(conn, head.split(b"\r\n")[0].decode())
            except OSError:
                return  # the client went away (the deadline shut its socket down)

    def close(self):
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def receivers():
    made: list[RawReceiver] = []

    def make(respond) -> RawReceiver:
        made.append(RawReceiver(respond))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _answer(status: str, body: bytes = b"", headers: str = ""):
    def respond(conn, _line):
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n".encode() + body
        )

    return respond


def _queued(channel: Channel) -> Notification:
    alert = Alert.objects.create(
        rule=Rule.objects.get(kind="container"), target="web-1", state="alerting", fired_at=timezone.now()
    )
    notifications_queue(alert=alert, kind="fired", now=timezone.now(), muted=False, channels=[channel])
    return Notification.objects.get(channel=channel, kind="fired")


# --- Item 2: no secret of the channel's URL in a stored or shown error ---------------------------------


def test_a_receiver_echoing_the_url_in_its_404_leaks_no_secret_on_any_surface(receivers, client, api_client, token_for):
    def cannot_post(conn, line):
        _answer("404 Not Found", f"Cannot POST {line.split()[1]}".encode())(conn, line)

    echo = receivers(cannot_post)
    hook = Channel.objects.create(
        name="hook", kind="webhook", url=f"http://127.0.0.1:{echo.port}/hooks/T0KEN?key=zzsecretzz"
    )
    row = _queued(hook)
    assert notifications_deliver() == {"sent": 0, "retrying": 1, "failed": 0}
    assert echo.requests == ["POST /hooks/T0KEN?key=zzsecretzz HTTP/1.1"]  # the receiver did see the secrets
    row.refresh_from_db()
    assert row.last_error == "HTTP 404 Not Found"  # what failed, not what the receiver said
    test = channel_test(channel=hook)
    assert test.last_error == "HTTP 404 Not Found"

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(viewer)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    surfaces = {
        "channel list": client.get("/admin/alerts/channel/"),
        "notifications": client.get("/admin/alerts/notification/"),
        "api": api_client.get("/api/v1/admin/ops/alerts"),
    }
    for name, response in surfaces.items():
        text = response.content.decode()
        assert response.status_code == HTTPStatus.OK, name
        assert "HTTP 404" in text, name  # the error is shown...
        assert "zzsecretzz" not in text and "T0KEN" not in text, name  # ...without the secrets
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    answer = client.post(f"/admin/alerts/channel/{hook.pk}/test/", follow=True).content.decode()
    assert "Test to hook failed: HTTP 404 Not Found" in answer and "zzsecretzz" not in answer  # Send test's message


def test_every_secret_part_of_the_url_is_masked_wherever_it_appears_in_an_error():
    url = "json://ops:hunter2%2Fpass@hooks.example.com:8443/hooks/T0KEN/x?key=zzsecretzz&k2=abc#topicname"
    error = (
        "Failed for hooks.example.com: POST /hooks/T0KEN/x?key=zzsecretzz&k2=abc answered 'bad key zzsecretzz'"
        " (user ops, password hunter2/pass, topicname); the URL was " + url
    )
    masked = error_masked(error, url)
    for secret in ("zzsecretzz", "T0KEN", "hunter2", "abc", "topicname"):
        assert secret not in masked, (secret, masked)
    assert "Failed for hooks.example.com" in masked and "json://ops:****@hooks.example.com:8443/" in masked


def test_a_stored_error_is_capped():
    assert len(error_masked("x" * 5000, "json://hooks.example.com/in")) == ERROR_LONGEST


# --- Item 3: the egress policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "[::1]", "localhost"]
)
def test_a_webhook_to_loopback_in_any_number_form_is_refused_and_never_connects(settings, receivers, host):
    settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS = []
    listener = receivers(_answer("200 OK"))  # 0.0.0.0 and 127.1 reach it too, on Linux
    hook = Channel.objects.create(name="hook", kind="webhook", url=f"http://{host}:{listener.port}/hook")
    row = channel_test(channel=hook)
    assert row.status == "failed" and "refused by the egress policy" in row.last_error, row.last_error
    assert listener.requests == []


def test_the_policy_holds_only_inside_a_send_other_connections_of_the_process_are_untouched(settings, receivers):
    settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS = []
    listener = receivers(_answer("200 OK"))
    url = f"http://127.0.0.1:{listener.port}/hook"
    assert channel_test(channel=Channel.objects.create(name="hook", kind="webhook", url=url)).status == "failed"
    assert httpx.post(url, json={}, timeout=10).status_code == HTTPStatus.OK  # the portal's own clients
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10):
        pass
    assert len(listener.requests) == 1


def test_apprise_channels_are_refused_too_json_and_mail(settings, receivers, smtp_server):
    settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS = []
    listener = receivers(_answer("200 OK"))
    json_row = channel_test(channel=Channel.objects.create(name="json", url=f"json://127.0.0.1:{listener.port}/in"))
    mail_row = channel_test(channel=Channel.objects.create(name="mail", url=smtp_server.url()))
    for row in (json_row, mail_row):
        assert row.status == "failed", row.channel.name
        assert row.last_error == "refused by the egress policy: 127.0.0.1 is a loopback address", row.last_error
    assert listener.requests == [] and smtp_server.messages == []


def test_an_allowed_network_lets_a_relay_through_and_only_that_network(settings, receivers):
    relay = receivers(_answer("204 No Content"))
    hook = Channel.objects.create(name="relay", kind="webhook", url=f"http://127.0.0.1:{relay.port}/hook")
    settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    assert channel_test(channel=hook).status == "sent"
    settings.OPSPORTAL_ALERTS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.2/32")]
    assert "127.0.0.1 is a loopback address" in channel_test(channel=hook).last_error
    assert len(relay.requests) == 1


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address judged, nothing bound)
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # a cloud's metadata service
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 to 127.0.0.1
    ],
)
def test_the_policy_refuses_every_non_public_kind_of_address(address, kind):
    assert f"is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address" in address_refusal(address)


def test_the_policy_lets_public_and_allowed_addresses_through_and_judges_no_names():
    assert address_refusal("93.184.215.14") is None and address_refusal("2606:4700::1111") is None
    assert address_refusal("10.1.2.3", allowed=[ipaddress.ip_network("10.0.0.0/8")]) is None
    assert address_refusal("localhost") == "'localhost' is not an IP address"


def test_a_service_that_is_not_http_gets_its_banner_kept_out_of_the_error(receivers):
    redis_like = receivers(lambda conn, _line: conn.sendall(b"-ERR unknown command 'POST', secret-banner\r\n"))
    hook = Channel.objects.create(name="hook", kind="webhook", url=f"http://127.0.0.1:{redis_like.port}/")
    row = channel_test(channel=hook)
    assert row.status == "failed" and "secret-banner" not in row.last_error
    assert row.last_error.endswith("no complete HTTP answer"), row.last_error


def test_a_closed_port_says_refused_without_more(unreachable_url):
    row = channel_test(channel=Channel.objects.create(name="dead", kind="webhook", url=unreachable_url))
    assert row.last_error == "ConnectError: [Errno 111] Connection refused"


@pytest.mark.parametrize("kind", ["webhook", "apprise"])
def test_no_redirect_is_followed_a_3xx_is_a_failure(receivers, kind):
    target = receivers(_answer("200 OK"))
    redirect = receivers(_answer("307 Temporary Redirect", headers=f"Location: http://127.0.0.1:{target.port}/in\r\n"))
    url = f"{'http' if kind == 'webhook' else 'json'}://127.0.0.1:{redirect.port}/hook"
    row = channel_test(channel=Channel.objects.create(name="hook", kind=kind, url=url))
    assert row.status == "failed" and row.last_error == "HTTP 307: redirect not followed", row.last_error
    assert len(redirect.requests) == 1 and target.requests == []


@pytest.mark.parametrize("url", ["syslog://", "rsyslog://127.0.0.1", "kodi://127.0.0.1", "enigma2://127.0.0.1"])
def test_apprise_schemes_off_the_allow_list_are_refused_by_the_form_and_by_delivery(admin_client, settings, url):
    assert "is not allowed here (OPSPORTAL_ALERTS_APPRISE_SCHEMES)" in channel_url_problem(kind="apprise", url=url)
    response = admin_client.post(
        "/admin/alerts/channel/add/", {"name": "x", "kind": "apprise", "url": url, "kinds": "fired"}
    )
    assert response.status_code == HTTPStatus.OK and "is not allowed here" in response.content.decode()
    stored = Channel.objects.create(name="old", url=url)  # saved before the allow-list existed
    row = _queued(stored)
    assert notifications_deliver() == {"sent": 0, "retrying": 0, "failed": 1}
    row.refresh_from_db()
    assert row.last_error.startswith("unusable channel URL: the Apprise scheme")


@pytest.mark.parametrize("url", ["windows://", "macosx://", "dbus://", "gnome://", "kde://"])
def test_the_desktop_schemes_are_refused_too(url):
    assert channel_url_problem(kind="apprise", url=url)  # not loadable on a server, and off the list


def test_the_allow_list_is_a_setting(settings):
    settings.OPSPORTAL_ALERTS_APPRISE_SCHEMES = ["ntfy"]
    assert channel_url_problem(kind="apprise", url="ntfy://ntfy.example.com/topic") is None
    assert "not allowed" in channel_url_problem(kind="apprise", url="json://hooks.example.com/")


@pytest.mark.parametrize("value", ["10.0.0.0/33", "intranet"])
def test_a_bad_allowed_network_stops_start_up_naming_the_variable(value):
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="opsportal.settings",
        DATABASE_URL="sqlite:///:memory:",
        OPSPORTAL_ALERTS_ALLOWED_NETWORKS=f"192.168.0.0/16,{value}",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert f"OPSPORTAL_ALERTS_ALLOWED_NETWORKS: {value!r} is not a network" in result.stderr


# --- Item 5: one deadline for the whole send ------------------------------------------------------------


def _trickle(conn, _line):
    """Headers one byte every half second: no single read ever waits long, the answer takes a minute."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(120):
        conn.sendall(b"x")
        time.sleep(0.5)
    conn.sendall(b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("kind", ["webhook", "apprise"])
def test_a_trickling_receiver_cannot_hold_send_test_past_the_deadline(settings, receivers, kind):
    settings.OPSPORTAL_ALERTS_SEND_TIMEOUT = 2
    slow = receivers(_trickle)
    url = f"{'http' if kind == 'webhook' else 'json'}://127.0.0.1:{slow.port}/hook"
    started = time.monotonic()
    row = channel_test(channel=Channel.objects.create(name="slow", kind=kind, url=url))
    took = time.monotonic() - started
    assert took < 10, took  # the receiver would take 60 s
    assert row.status == "failed"
    assert row.last_error == "timed out: not done within the 2 s deadline for the whole send", row.last_error


def test_a_trickling_receiver_cannot_hold_the_delivery_pass(settings, receivers, webhook):
    settings.OPSPORTAL_ALERTS_SEND_TIMEOUT = 2
    slow = receivers(_trickle)
    slow_row = _queued(Channel.objects.create(name="slow", kind="webhook", url=f"http://127.0.0.1:{slow.port}/"))
    Channel.objects.create(name="good", kind="webhook", url=webhook.url)
    notifications_queue(
        alert=slow_row.alert, kind="reminder", now=timezone.now(), muted=False, channels=list(Channel.objects.all())
    )
    started = time.monotonic()
    assert notifications_deliver() == {"sent": 1, "retrying": 2, "failed": 0}
    assert time.monotonic() - started < 10
    slow_row.refresh_from_db()
    assert "deadline" in slow_row.last_error


def test_a_trickling_smtp_server_cannot_hold_an_email_channel_past_the_deadline(settings):
    """Its greeting arrives a line every half second for a minute: smtplib's per-read timeout never fires."""
    settings.OPSPORTAL_ALERTS_SEND_TIMEOUT = 2
    listener = socket.create_server(("127.0.0.1", 0))

    def greet_slowly():
        conn, _ = listener.accept()
        with conn:
            for _ in range(120):
                try:
                    conn.sendall(b"220-still greeting\r\n")
                except OSError:
                    return  # the send was shut down at its deadline
                time.sleep(0.5)

    threading.Thread(target=greet_slowly, daemon=True).start()
    mail = Channel.objects.create(
        name="mail", url=f"mailto://127.0.0.1:{listener.getsockname()[1]}?from=a@example.com&to=b@example.com"
    )
    started = time.monotonic()
    row = channel_test(channel=mail)
    assert time.monotonic() - started < 10
    assert row.last_error == "timed out: not done within the 2 s deadline for the whole send", row.last_error
    listener.close()
