"""Issue 21's "done": a script pauses and resumes the jobs, refreshes a planning and mutes an alert with a
token of only those scopes, over real HTTP, and each action is once in ``GET /api/v1/admin/ops/audit``;
a ``read`` token is refused with 403 in the error shape, and its refusal is on the record too."""

from http import HTTPStatus

import httpx
import pytest
from django.contrib.auth.models import Permission, User

from opsportal.alerts.models import Alert, Rule
from plannings import runtime
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
SCRIPT_SCOPES = ("jobs:control", "plannings:operate", "alerts:mute")


# What an Operator holds for these actions, granted directly: a transactional test's flush takes the
# roles' groups and the default rules (data migrations) with it; the permissions are made again.
OPERATOR_PERMISSIONS = ("operate_plannings", "control_jobs", "add_mute", "delete_mute")


@pytest.fixture
def operator(transactional_db):
    user = User.objects.create_user("ops-script-owner", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    return user


@pytest.fixture
def alert(transactional_db) -> Alert:
    rule, _ = Rule.objects.get_or_create(name="Plannings health", defaults={"kind": "plannings_health"})
    return Alert.objects.create(rule=rule, target="plannings", state="alerting")


def _client(live_server, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{live_server.url}/api/v1/admin/ops", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def _audit(reader: httpx.Client) -> list[dict]:
    response = reader.get("/audit", params={"via": "api", "limit": 100})
    assert response.status_code == HTTPStatus.OK, response.text
    body = response.json()
    return body.get("results", body.get("events"))


def test_a_script_with_a_scoped_token_runs_the_maintenance_and_each_action_is_once_on_the_record(
    live_server, operator, alert, token_for
):
    factories.planning_make("school.group.leaf")
    script = _client(live_server, token_for(*SCRIPT_SCOPES, owner=operator, name="maintenance"))
    reader = _client(live_server, token_for("read", owner=operator, name="reader"))

    answers = [
        script.post("/jobs/pause"),
        script.post("/plannings/school.group.leaf/refresh"),
        script.post(f"/alerts/{alert.pk}/mute", json={"duration": "1h", "comment": "maintenance"}),
        script.post("/jobs/resume"),
    ]

    assert [answer.status_code for answer in answers] == [HTTPStatus.OK] * 4, [a.text for a in answers]
    assert not runtime.jobs_paused()
    events = _audit(reader)
    done = [(event["action"], event["outcome"], event["token_name"], event["actor"]) for event in events]
    for action in ("jobs.pause", "plannings.refresh_now", "alerts.mute", "jobs.resume"):
        assert done.count((action, "ok", "maintenance", "ops-script-owner")) == 1, (action, done)
    assert len(done) == 4


def test_a_read_token_is_refused_each_action_with_403_and_each_refusal_is_on_the_record(
    live_server, operator, alert, token_for
):
    factories.planning_make("school.group.leaf")
    reader = _client(live_server, token_for("read", owner=operator, name="reader"))

    answers = {
        "jobs.pause": reader.post("/jobs/pause"),
        "plannings.refresh_now": reader.post("/plannings/school.group.leaf/refresh"),
        "alerts.mute": reader.post(f"/alerts/{alert.pk}/mute", json={"duration": "1h"}),
    }

    for action, answer in answers.items():
        assert answer.status_code == HTTPStatus.FORBIDDEN, (action, answer.text)
        body = answer.json()
        assert set(body) == {"code", "detail"} and body["code"] == "forbidden", body
    assert not runtime.jobs_paused()
    refused = {(event["action"], event["outcome"], event["token_name"]) for event in _audit(reader)}
    assert refused == {(action, "refused", "reader") for action in answers}
