"""Alerts tests: real receivers for notifications (an SMTP server, an HTTP webhook) and rule helpers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts.servers.postgres import free_port
from tests.import_contracts import tree  # noqa: F401 (a fixture: a copy of the tree to plant imports in)


class SmtpServer:
    """aiosmtpd on loopback, keeping each message it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.port = free_port()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=alerts@example.com&to={to}"


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


class WebhookReceiver:
    """http.server in a thread: keeps every JSON body POSTed; answers ``status`` (200 by default)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append({"path": self.path, "json": json.loads(self.rfile.read(length) or b"null")})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/s3cr3t-token-value"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def only_rules(db):
    """Keep only the default rules of the given kinds enabled (the others read servers the test does not start)."""
    from opsportal.alerts.models import Rule

    def keep(*kinds: str, **fields) -> list[Rule]:
        Rule.objects.exclude(kind__in=kinds).update(enabled=False)
        Rule.objects.filter(kind__in=kinds).update(**fields)
        return list(Rule.objects.filter(kind__in=kinds))

    return keep


@pytest.fixture
def unreachable_url():
    return f"http://127.0.0.1:{free_port()}/nothing-listens-here"


class PlanningsHealth:
    """The plannings health rule alone, with a webhook channel (nothing listens: rows stay queued), and
    switches for its condition: ``bad()`` ("Jobs not started", unhealthy) and ``good()`` (jobs looping now)."""

    def __init__(self, rule):
        self.rule = rule

    def bad(self) -> None:
        from plannings.models import JobRuntime

        JobRuntime.objects.all().delete()

    def good(self) -> None:
        from django.utils import timezone

        from plannings.models import JobRuntime
        from tests import factories

        if not JobRuntime.objects.exists():
            factories.both_jobs_running()
        JobRuntime.objects.update(last_loop_at=timezone.now())


@pytest.fixture
def plannings_health(only_rules):
    """Grace of two passes and 60 s, a reminder every 10 minutes."""
    from opsportal.alerts.models import Channel

    (rule,) = only_rules("plannings_health", grace_evaluations=2, grace_seconds=60, reminder_seconds=600)
    Channel.objects.create(name="ops hook", kind="webhook", url="http://127.0.0.1:9/hook")
    return PlanningsHealth(rule)


@pytest.fixture
def member(db):
    """``member(client, "Operator")``: a staff user in that group, logged in on ``client``; returns the user."""
    from django.contrib.auth.models import Group, User

    def make(client, role: str):
        user = User.objects.create_user(f"{role.lower()}-user", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return user

    return make
