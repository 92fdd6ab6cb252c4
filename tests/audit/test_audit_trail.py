"""Each operator action of the Jobs page, the command line and the token admin leaves one audit row: who, how, what,
on which objects, the outcome. Refusals are rows too, but never more than a few a minute per actor."""

from http import HTTPStatus
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from opsportal.api.models import ApiToken
from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import REFUSALS_KEPT_PER_MINUTE
from plannings import runtime

JOBS = "/admin/ops/jobs/"
TOKENS = "/admin/opsapi/apitoken/"
pytestmark = pytest.mark.django_db


def _login(client, username: str, *codenames: str, superuser: bool = False):
    user = User.objects.create_user(username, password="pw", is_staff=True, is_superuser=superuser)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def sent(monkeypatch):
    """Tasks recorded in place of the broker (sending is the page's job; delivering it, Celery's)."""
    from plannings import tasks

    calls = []
    for task in (tasks.backfill, tasks.refresh_poll):
        monkeypatch.setattr(task, "apply_async", lambda *a, task=task, **k: calls.append(task.name))
    return calls


def _only() -> AuditEvent:
    events = list(AuditEvent.objects.all())
    assert len(events) == 1, [str(event) for event in events]
    return events[0]


def test_pausing_and_resuming_from_the_jobs_page_are_audited_with_who_and_whether_the_switch_moved(client):
    _login(client, "ana", "control_jobs")
    client.post(f"{JOBS}pause/")
    client.post(f"{JOBS}pause/")  # already paused: recorded, changing nothing
    client.post(f"{JOBS}resume/")
    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.outcome, e.changed) for e in events] == [
        ("jobs.pause", "ok", 1), ("jobs.pause", "ok", 0), ("jobs.resume", "ok", 1),
    ]  # fmt: skip
    assert {(e.actor, e.via, e.target_type) for e in events} == {("ana", "portal", "job")}
    assert events[0].targets == ["plannings-backfill", "plannings-refresh-worker"]
    assert events[1].detail.startswith("already paused")


def test_running_a_backfill_or_a_drain_is_audited_and_refused_while_paused(client, sent):
    _login(client, "ana", "control_jobs")
    client.post(f"{JOBS}run-backfill/")
    client.post(f"{JOBS}run-drain/")
    runtime.jobs_pause(by="someone", now=timezone.now())
    response = client.post(f"{JOBS}run-backfill/", follow=True)
    assert b"Jobs are paused: nothing runs until they are resumed. No backfill was sent" in response.content
    assert sent == ["plannings.backfill", "plannings.refresh_poll"]  # nothing more while paused
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "targets"))
    assert rows == [
        ("jobs.run_backfill", "ok", ["plannings.backfill"]),
        ("jobs.run_drain", "ok", ["plannings.refresh_poll"]),
        ("jobs.run_backfill", "refused", []),
    ]


def test_a_user_without_the_permission_is_refused_and_audited_but_only_so_often(client):
    _login(client, "mallory")
    assert client.get(f"{JOBS}pause/").status_code == HTTPStatus.FORBIDDEN  # asking acts on nothing: no row
    assert not AuditEvent.objects.exists()
    with time_machine.travel("2026-12-01 10:00:00Z", tick=False):
        for _ in range(REFUSALS_KEPT_PER_MINUTE + 5):
            assert client.post(f"{JOBS}pause/").status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(action="jobs.pause", outcome="refused", actor="mallory").count() == (
        REFUSALS_KEPT_PER_MINUTE
    )
    with time_machine.travel("2026-12-01 10:01:01Z", tick=False):  # a minute on: recorded again
        client.post(f"{JOBS}pause/")
    assert AuditEvent.objects.count() == REFUSALS_KEPT_PER_MINUTE + 1
    assert not runtime.jobs_paused()


def test_the_plannings_jobs_command_audits_pause_and_resume_as_the_command_line(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "deploy")
    call_command("plannings_jobs", "pause", stdout=StringIO())
    call_command("plannings_jobs", "status", stdout=StringIO())  # a read: no row
    call_command("plannings_jobs", "resume", stdout=StringIO())
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "via", "changed"))
    assert rows == [("jobs.pause", "deploy", "cli", 1), ("jobs.resume", "deploy", "cli", 1)]


def test_issuing_a_token_in_the_admin_is_audited_without_its_secret(client):
    _login(client, "root", superuser=True)
    response = client.post(f"{TOKENS}add/", {"name": "grafana", "scope_choices": ["read"]}, follow=True)
    assert response.status_code == HTTPStatus.OK
    token = ApiToken.objects.get()
    event = _only()
    assert (event.action, event.outcome, event.actor, event.via, event.changed) == ("token.create", "ok", "root",
                                                                                  "portal", 1)  # fmt: skip
    assert event.targets == [f"grafana ({token.prefix})"] and "scopes read; owner root" in event.detail
    secret = response.context["secret"]
    assert secret.split("_", 2)[2] not in event.detail + "".join(event.targets)


def test_a_token_refused_by_the_issuers_rights_is_audited_as_refused(client):
    _login(client, "clerk", "add_apitoken")
    response = client.post(f"{TOKENS}add/", {"name": "deploy", "scope_choices": ["read", "containers:restart"]})
    assert response.status_code == HTTPStatus.OK and not ApiToken.objects.exists()
    event = _only()
    assert (event.action, event.outcome, event.targets) == ("token.create", "refused", ["deploy"])
    assert "restart_container" in event.detail


def test_revoking_tokens_is_one_row_counting_what_changed(client):
    _login(client, "root", superuser=True)
    tokens = [api_token_create(name=name, scopes=["read"]).token for name in ("a", "b", "c")]
    client.post(TOKENS, {"action": "revoke", "_selected_action": [tokens[0].pk]})
    response = client.post(TOKENS, {"action": "revoke", "_selected_action": [t.pk for t in tokens]}, follow=True)
    assert b"Revoked 2 token(s); 1 already revoked." in response.content
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "changed", "target_count"))
    assert rows == [("token.revoke", 1, 1), ("token.revoke", 2, 3)]
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_create_api_token_audits_as_the_command_line_and_refusals_too(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "deploy")
    call_command("create_api_token", "--name", "ci", "--scopes", "read", stdout=StringIO(), stderr=StringIO())
    User.objects.create_user("clerk", is_staff=True)
    with pytest.raises(CommandError):
        call_command("create_api_token", "--name", "x", "--scopes", "restart", "--issued-by", "clerk",
                     stdout=StringIO(), stderr=StringIO())  # fmt: skip
    rows = list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "actor", "via"))
    assert rows == [("token.create", "ok", "deploy", "cli"), ("token.create", "refused", "clerk", "cli")]


def _viewer(client):
    user = User.objects.create_user("vera", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(user)
    return client


def test_a_viewers_forged_token_issue_is_403_and_on_the_record(client):
    """#21: with a valid CSRF token, a Viewer's POST of the token form answered 403 and left no row."""
    client = Client(enforce_csrf_checks=True)
    _viewer(client)
    csrf = client.get(TOKENS).cookies["csrftoken"].value
    answer = client.post(f"{TOKENS}add/", {"name": "sneaky", "scope_choices": ["read"], "csrfmiddlewaretoken": csrf})
    assert answer.status_code == HTTPStatus.FORBIDDEN and not ApiToken.objects.exists()
    event = _only()
    assert (event.action, event.outcome, event.actor, event.targets) == ("token.create", "refused", "vera", ["sneaky"])
    assert "opsapi.add_apitoken" in event.detail


def test_a_viewers_forged_revoke_is_403_and_on_the_record(client):
    token = api_token_create(name="live", scopes=["read"]).token
    answer = _viewer(client).post(TOKENS, {"action": "revoke", "_selected_action": [token.pk]})
    assert answer.status_code == HTTPStatus.FORBIDDEN
    token.refresh_from_db()
    assert token.revoked_at is None
    event = _only()
    assert (event.action, event.outcome, event.targets) == ("token.revoke", "refused", [f"id {token.pk}"])


def test_a_revocation_is_on_the_record_with_before_and_after_and_no_secret(client):
    _login(client, "root", superuser=True)
    issued = api_token_create(name="a", scopes=["read"])
    client.post(TOKENS, {"action": "revoke", "_selected_action": [issued.token.pk]})
    issued.token.refresh_from_db()
    detail = _only().detail
    assert f"a ({issued.token.prefix}) revoked_at: none → {issued.token.revoked_at.isoformat()}" in detail
    assert issued.secret.split("_", 2)[2] not in detail and issued.token.secret_hash not in detail
