"""The plannings' and jobs' actions over the API: each endpoint's answers, statuses and error shape; the
token's scope and its owner's permission decided (and refusals recorded) by the services."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from plannings import runtime
from plannings.models import Planning, PlanningRefreshQueue, PlanningRefreshState
from tests import factories

OPS = "/api/v1/admin/ops"
pytestmark = pytest.mark.django_db


@pytest.fixture
def as_token(api_client, token_for):
    """``as_token("Operator", "plannings:operate")``: the client with a token of these scopes, owned by a
    staff user of that role."""

    def make(role: str, *scopes: str):
        owner = User.objects.create_user(f"{role.lower()}-{len(scopes)}", is_staff=True)
        owner.groups.add(Group.objects.get(name=role))
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(*scopes, owner=owner, name='script')}")
        return api_client

    return make


@pytest.fixture
def sent(monkeypatch):
    from plannings import job_controls

    calls = []
    for _action, task, _kwargs in job_controls.STARTABLE.values():
        monkeypatch.setattr(task, "apply_async", lambda *a, task=task, **kw: calls.append(task.name))
    return calls


def test_refresh_queues_the_planning_and_a_second_within_30_seconds_is_429_with_retry_after(as_token):
    client = as_token("Operator", "plannings:operate")
    factories.planning_make("s.a")

    first = client.post(f"{OPS}/plannings/s.a/refresh")
    second = client.post(f"{OPS}/plannings/s.a/refresh")

    assert first.status_code == HTTPStatus.OK
    assert first.json() == {"action": "plannings.refresh_now", "changed": ["s.a"], "skipped": []}
    assert PlanningRefreshQueue.objects.get(pk="s.a").priority == 10
    assert second.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert second.json() == {"code": "throttled", "detail": "already requested in the last 30 seconds"}
    assert second["Retry-After"] == "30"


def test_re_enable_release_and_retry_answer_409_when_there_is_nothing_to_do(as_token):
    client = as_token("Operator", "plannings:operate")
    factories.planning_make("s.idle")
    for path, code in (("re-enable", "not_disabled"), ("release-lock", "not_locked"), ("retry", "not_waiting")):
        response = client.post(f"{OPS}/plannings/s.idle/{path}")
        assert response.status_code == HTTPStatus.CONFLICT, path
        assert response.json()["code"] == code


def test_re_enable_release_and_retry_act_on_a_planning_in_that_state(as_token):
    client = as_token("Operator", "plannings:operate")
    now = timezone.now()
    off, locked, waiting = (factories.planning_make(f"s.{n}") for n in ("off", "locked", "waiting"))
    factories.state_make(off, disabled_until=now + timedelta(hours=1), updated_at=now)
    factories.queue_item_make(locked, locked_at=now, lock_owner="w", next_attempt_at=now, attempts=1)
    factories.queue_item_make(waiting, attempts=1, next_attempt_at=now + timedelta(hours=1))

    assert client.post(f"{OPS}/plannings/s.off/re-enable").json()["changed"] == ["s.off"]
    assert client.post(f"{OPS}/plannings/s.locked/release-lock").json()["changed"] == ["s.locked"]
    assert client.post(f"{OPS}/plannings/s.waiting/retry").json()["changed"] == ["s.waiting"]
    assert PlanningRefreshState.objects.get(pk="s.off").disabled_until is None
    assert PlanningRefreshQueue.objects.get(pk="s.locked").locked_at is None


def test_an_unknown_planning_is_404_in_the_error_shape(as_token):
    response = as_token("Operator", "plannings:operate").post(f"{OPS}/plannings/no.such/refresh")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"code": "not_found", "detail": "no planning 'no.such'"}


def test_a_read_token_is_refused_with_403_and_the_refusal_is_on_the_record(as_token):
    factories.planning_make("s.a")
    response = as_token("Operator", "read").post(f"{OPS}/plannings/s.a/refresh")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"code": "forbidden", "detail": "this token lacks the 'plannings:operate' scope"}
    event = AuditEvent.objects.get(action="plannings.refresh_now")
    assert (event.outcome, event.via, event.token_name) == ("refused", "api", "script")
    assert not PlanningRefreshQueue.objects.exists()


def test_a_token_never_does_more_than_its_owner(as_token, token_for, api_client):
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    factories.planning_make("s.a")
    # Issued when the owner could (a machine token's scopes are its own), then the owner lost the right:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('plannings:operate', owner=viewer)}")
    response = api_client.post(f"{OPS}/plannings/s.a/refresh")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "lacks plannings.operate_plannings" in response.json()["detail"]


def test_bulk_by_ids_says_what_changed_and_why_the_rest_was_skipped(as_token):
    client = as_token("Operator", "plannings:operate")
    factories.plannings_make(2, school="s")

    response = client.post(
        f"{OPS}/plannings/bulk", {"action": "refresh", "ids": ["s.p0", "s.p1", "s.gone"]}, format="json"
    )

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "action": "plannings.refresh_now",
        "changed": ["s.p0", "s.p1"],
        "skipped": [{"planning": "s.gone", "reason": "not_found", "detail": "no such planning"}],
    }


def test_bulk_by_filter_acts_within_its_maximum_and_refuses_beyond_it(as_token):
    client = as_token("Operator", "plannings:operate")
    factories.plannings_make(3, school="a")
    factories.plannings_make(1, school="b")
    body = {"action": "refresh", "filter": {"host": "a"}, "max": 2}

    refused = client.post(f"{OPS}/plannings/bulk", body, format="json")
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.json()["code"] == "too_many"
    assert not PlanningRefreshQueue.objects.exists()

    done = client.post(f"{OPS}/plannings/bulk", {**body, "max": 3}, format="json")
    assert done.json()["changed"] == ["a.p0", "a.p1", "a.p2"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"action": "refresh"}, "ids"),
        ({"action": "refresh", "ids": ["a"], "filter": {"host": "a"}, "max": 1}, "ids"),
        ({"action": "refresh", "filter": {"host": "a"}}, "max"),
        ({"action": "explode", "ids": ["a"]}, "action"),
        ({"action": "refresh", "filter": {"stale": "maybe"}, "max": 1}, "filter"),
        ({"action": "refresh", "filter": {"hots": "a"}, "max": 1}, "filter"),
    ],
)
def test_a_bulk_body_that_says_too_little_or_too_much_is_400_naming_it(as_token, body, param):
    response = as_token("Operator", "plannings:operate").post(f"{OPS}/plannings/bulk", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith(f"{param}:")


def test_jobs_pause_resume_and_start_over_the_api(as_token, sent):
    client = as_token("Operator", "jobs:control")

    paused = client.post(f"{OPS}/jobs/pause")
    assert paused.json() == {
        "action": "jobs.pause",
        "changed": True,
        "paused": True,
        "detail": "the jobs stop at their next loop",
    }
    assert runtime.jobs_paused()
    refused = client.post(f"{OPS}/jobs/backfill")
    assert refused.status_code == HTTPStatus.CONFLICT
    assert refused.json()["code"] == "jobs_paused"
    assert client.post(f"{OPS}/jobs/resume").json()["paused"] is False
    assert client.post(f"{OPS}/jobs/drain").status_code == HTTPStatus.OK
    assert sent == ["plannings.refresh_poll"]


def test_a_plannings_token_may_not_control_the_jobs(as_token):
    response = as_token("Operator", "plannings:operate").post(f"{OPS}/jobs/pause")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not runtime.jobs_paused()
    assert AuditEvent.objects.get(action="jobs.pause").outcome == "refused"


def test_no_token_is_401(api_client):
    assert api_client.post(f"{OPS}/jobs/pause").status_code == HTTPStatus.UNAUTHORIZED
    assert Planning.objects.count() == 0
