"""The Jobs page: states, pause / resume behind a confirmation, jobs started now, and who may do it."""

import re
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from plannings import jobs, runtime, selectors
from scripts.servers.postgres import free_port
from tests import factories

JOBS = "/admin/ops/jobs/"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    """A staff user with no permissions: may look, may not act."""
    User.objects.create_user("looker", password="pw", is_staff=True)
    client.login(username="looker", password="pw")
    return client


@pytest.fixture
def operator_client(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="control_jobs"))
    client.login(username="operator", password="pw")
    return client


@pytest.fixture
def sent(monkeypatch):
    """The tasks the page sends, recorded in place of the broker: what is sent is the page's job,
    delivering it is Celery's (and a real broker's outage is tested in a process of its own below)."""
    from plannings import tasks

    calls = []
    for task in (tasks.backfill, tasks.refresh_poll):
        monkeypatch.setattr(task, "apply_async", lambda *args, task=task, **kwargs: calls.append(
            (task.name, kwargs.get("kwargs"))))  # fmt: skip
    return calls


def test_the_page_shows_each_job_state_and_last_loop(operator_client):
    factories.runtime_make("plannings-backfill", "working")
    body = operator_client.get(JOBS).content.decode()
    assert "plannings-backfill" in body and "ops-badge-working" in body
    assert "plannings-refresh-worker" in body and "never reported" in body
    assert "Pause jobs…" in body and "Run backfill now" in body and "Run a drain now" in body


def test_pause_asks_first_then_pauses_and_resume_undoes_it(operator_client):
    confirm = operator_client.get(f"{JOBS}pause/")
    assert confirm.status_code == HTTPStatus.OK and b"Pause the backfill and the refresh worker?" in confirm.content
    assert not runtime.jobs_paused()  # asking changes nothing
    response = operator_client.post(f"{JOBS}pause/", follow=True)
    assert runtime.jobs_paused() and selectors.jobs_shared_state().paused_by == "operator"
    assert b"Jobs paused" in response.content and b"Resume jobs" in response.content
    operator_client.post(f"{JOBS}resume/")
    assert not runtime.jobs_paused()


def test_a_staff_user_without_the_permission_sees_no_buttons_and_is_refused(staff_client, sent):
    body = staff_client.get(JOBS).content.decode()
    assert "Pause jobs" not in body and "Run backfill now" not in body and "You can look but not act" in body
    for action in ("pause", "resume", "run-backfill", "run-drain"):
        assert staff_client.post(f"{JOBS}{action}/").status_code == HTTPStatus.FORBIDDEN
    assert staff_client.get(f"{JOBS}pause/").status_code == HTTPStatus.FORBIDDEN
    assert not runtime.jobs_paused() and sent == []


def test_actions_need_the_csrf_token(operator_client):
    operator_client.handler.enforce_csrf_checks = True
    assert operator_client.post(f"{JOBS}pause/").status_code == HTTPStatus.FORBIDDEN
    assert not runtime.jobs_paused()


def test_run_now_sends_the_jobs_tasks(operator_client, sent):
    response = operator_client.post(f"{JOBS}run-backfill/", follow=True)
    assert b"A backfill pass sent to the workers." in response.content
    operator_client.post(f"{JOBS}run-drain/")
    assert sent == [("plannings.backfill", {}), ("plannings.refresh_poll", {"wake": True})]


@pytest.mark.postgres_only
def test_run_now_with_the_broker_down_says_so(subprocess_env):
    # Its own process: Celery and kombu keep connection pools per broker URL for the life of a
    # process, so a dead broker is only dead for certain in a fresh one.
    User.objects.create_superuser("ops", "ops@example.test", "pw")
    env = {**subprocess_env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens there
    code = (
        "from django.test import Client; from django.test.utils import setup_test_environment; "
        "from django.contrib.auth.models import User; setup_test_environment(); "
        "client = Client(HTTP_HOST='127.0.0.1'); client.force_login(User.objects.get(username='ops')); "
        "response = client.post('/admin/ops/jobs/run-drain/', follow=True); "
        "print(response.status_code, [str(m) for m in response.context['messages']])"
    )
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "200 ['broker_unavailable: A refresh drain was not started (OperationalError); try again later.']" in (
        result.stdout
    ), result.stdout + result.stderr[-2000:]


def test_unknown_actions_and_wrong_methods(operator_client):
    assert operator_client.post(f"{JOBS}explode/").status_code == HTTPStatus.NOT_FOUND
    assert operator_client.get(f"{JOBS}run-backfill/").status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_non_staff_users_get_the_login_page(client):
    User.objects.create_user("visitor", password="pw")
    client.login(username="visitor", password="pw")
    assert client.post(f"{JOBS}pause/")["Location"].startswith("/admin/login/")
    assert not runtime.jobs_paused()


def _switch(body: str) -> str:
    return re.search(r'<p id="jobs-switch" data-state="([a-z_]+)"', body).group(1)


def _row_states(body: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-job="([^"]+)" data-state="([^"]+)"', body))


def test_after_pause_the_switch_and_the_rows_agree_until_the_jobs_loop(operator_client):
    factories.both_jobs_running("idle")
    body = operator_client.post(f"{JOBS}pause/", follow=True).content.decode()
    # Paused, but neither job has looped since: both say so, rather than "paused" above "idle" rows.
    assert _switch(body) == "pausing" and "paused: the jobs stop at their next loop" in body
    assert _row_states(body) == {"plannings-backfill": "pausing", "plannings-refresh-worker": "pausing"}
    assert "reported idle; stops at its next loop" in body
    jobs.backfill_pass()  # one job loops and reports paused; the other has not yet
    body = operator_client.get(JOBS).content.decode()
    assert _switch(body) == "pausing"
    assert _row_states(body) == {"plannings-backfill": "paused", "plannings-refresh-worker": "pausing"}
    jobs.refresh_poll(owner="test")
    body = operator_client.get(JOBS).content.decode()
    assert _switch(body) == "paused" and "nothing runs until the jobs are resumed" in body
    assert set(_row_states(body).values()) == {"paused"}


def test_after_resume_the_switch_and_the_rows_agree_until_the_jobs_loop(operator_client, settings):
    settings.JOBS_QUIET_HOURS = "off"
    factories.both_jobs_running("paused")
    factories.jobs_paused()
    body = operator_client.post(f"{JOBS}resume/", follow=True).content.decode()
    assert _switch(body) == "resuming" and "resumed: running again from their next loop" in body
    assert set(_row_states(body).values()) == {"resuming"}
    jobs.backfill_pass()
    jobs.refresh_poll(owner="test")
    body = operator_client.get(JOBS).content.decode()
    assert _switch(body) == "running" and set(_row_states(body).values()) == {"idle"}


def test_a_crashed_job_stays_crashed_under_the_switch_and_never_reported_ones_are_said_so(operator_client):
    factories.runtime_make("plannings-backfill", "crashed")
    factories.jobs_paused()
    body = operator_client.get(JOBS).content.decode()
    assert _switch(body) == "paused" and _row_states(body) == {
        "plannings-backfill": "crashed", "plannings-refresh-worker": "never reported",
    }  # fmt: skip


def test_while_paused_running_a_job_is_refused_plainly_and_the_buttons_say_why(operator_client, sent):
    factories.jobs_paused()
    body = operator_client.get(JOBS).content.decode()
    assert 'value="Run backfill now" disabled' in body and 'value="Run a drain now" disabled' in body
    assert "Jobs are paused: nothing runs until they are resumed. Run backfill and Run a drain wait for Resume." in body
    for action, label in (("run-backfill", "backfill"), ("run-drain", "drain")):
        response = operator_client.post(f"{JOBS}{action}/", follow=True)
        assert f"Jobs are paused: nothing runs until they are resumed. No {label} was sent: resume the jobs first." in (
            response.content.decode()
        )
    assert sent == []


def test_the_buttons_of_the_jobs_and_confirmation_pages_share_one_style(operator_client):
    jobs_page = operator_client.get(JOBS).content.decode()
    confirm = operator_client.get(f"{JOBS}pause/").content.decode()
    for body, count in ((jobs_page, 3), (confirm, 2)):
        assert len(re.findall(r'class="(?:button )?ops-button', body)) == count
        assert ".ops-jobs-buttons .ops-button" in body  # the one rule sizing links and inputs alike


def _dashboard_row_states(client) -> dict[str, str]:
    body = client.get("/admin/ops/").content.decode()
    panel = re.search(r'<section class="ops-panel ops-panel-plannings".*?</section>', body, re.S).group(0)
    return _row_states(panel)


def test_the_dashboard_shows_each_job_in_the_state_the_jobs_page_shows(operator_client, settings):
    """Right after Pause the Jobs page said "pausing" while the dashboard said idle; after Resume "resuming"
    beside "paused": both read ``selectors.jobs_shown`` now, at every step."""
    settings.JOBS_QUIET_HOURS = "off"
    factories.both_jobs_running("idle")
    steps = [
        lambda: operator_client.post(f"{JOBS}pause/"),
        jobs.backfill_pass,
        lambda: jobs.refresh_poll(owner="test"),
        lambda: operator_client.post(f"{JOBS}resume/"),
        jobs.backfill_pass,
    ]
    seen = []
    for step in steps:
        step()
        on_jobs_page = _row_states(operator_client.get(JOBS).content.decode())
        assert _dashboard_row_states(operator_client) == on_jobs_page
        seen.append(on_jobs_page["plannings-backfill"])
    assert seen == ["pausing", "paused", "paused", "resuming", "idle"]


def test_a_next_poll_that_has_passed_reads_due_now_not_ago(operator_client):
    from datetime import timedelta

    from django.utils import timezone

    factories.runtime_make("plannings-backfill", "idle")
    worker = factories.runtime_make("plannings-refresh-worker", "idle")
    worker.next_poll_at = timezone.now() - timedelta(seconds=21)
    worker.save()
    body = operator_client.get(JOBS).content.decode()
    row = re.search(r'<tr data-job="plannings-refresh-worker".*?</tr>', body, re.S).group(0)
    assert "due now" in row and "ago" not in row.split("</td>")[5]
    worker.next_poll_at = timezone.now() + timedelta(seconds=30)
    worker.save()
    row = re.search(r'<tr data-job="plannings-refresh-worker".*?</tr>', operator_client.get(JOBS).content.decode(),
                    re.S).group(0)  # fmt: skip
    assert "due now" not in row
