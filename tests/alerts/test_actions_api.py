"""The alert actions over the API: acknowledge and take back, mute and unmute, a channel's test; each
with its scope, its 403 on the record, its 404 and its 409."""

from datetime import UTC, datetime
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Group, User

from opsportal.alerts.models import Channel, Mute
from opsportal.audit.models import AuditEvent
from tests.alerts.helpers import fire_one

OPS = "/api/v1/admin/ops"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def as_token(api_client, token_for):
    def make(role: str, *scopes: str):
        owner = User.objects.create_user(f"{role.lower()}-{'-'.join(scopes)}", is_staff=True)
        owner.groups.add(Group.objects.get(name=role))
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(*scopes, owner=owner, name='chat')}")
        return api_client

    return make


@pytest.fixture
def alert(plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        return fire_one(plannings_health, clock)


def test_acknowledge_then_take_back_then_409(as_token, alert):
    client = as_token("Operator", "alerts:mute")

    acked = client.post(f"{OPS}/alerts/{alert.pk}/acknowledge", {"comment": "on it"}, format="json")
    assert acked.status_code == HTTPStatus.OK
    assert acked.json()["acknowledged"]["comment"] == "on it"
    again = client.post(f"{OPS}/alerts/{alert.pk}/acknowledge", {}, format="json")
    assert again.status_code == HTTPStatus.CONFLICT
    assert again.json() == {"code": "conflict", "detail": "not acknowledged: it is acknowledged already"}
    taken_back = client.post(f"{OPS}/alerts/{alert.pk}/unacknowledge")
    assert taken_back.json()["acknowledged"] is None
    assert client.post(f"{OPS}/alerts/{alert.pk}/unacknowledge").status_code == HTTPStatus.CONFLICT


def test_mute_with_a_duration_and_a_comment_then_unmute(as_token, alert):
    client = as_token("Operator", "alerts:mute")

    muted = client.post(f"{OPS}/alerts/{alert.pk}/mute", {"duration": "4h", "comment": "deploy"}, format="json")
    assert muted.status_code == HTTPStatus.OK
    body = muted.json()
    assert (body["rule"], body["target"], body["until_resolved"]) == ("Plannings health", "plannings", False)
    assert body["reason"] == f"muted 4 h from alert #{alert.pk}: deploy"
    assert client.post(f"{OPS}/alerts/{alert.pk}/unmute").json() == {"lifted": 1}
    assert not Mute.objects.exists()
    gone = client.post(f"{OPS}/alerts/{alert.pk}/unmute")
    assert gone.status_code == HTTPStatus.CONFLICT


def test_an_unknown_duration_is_400_and_an_unknown_alert_404(as_token, alert):
    client = as_token("Operator", "alerts:mute")
    bad = client.post(f"{OPS}/alerts/{alert.pk}/mute", {"duration": "forever"}, format="json")
    assert bad.status_code == HTTPStatus.BAD_REQUEST and bad.json()["detail"].startswith("duration:")
    missing = client.post(f"{OPS}/alerts/{alert.pk + 1}/mute", {"duration": "1h"}, format="json")
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert missing.json() == {"code": "not_found", "detail": f"no alert #{alert.pk + 1}"}
    assert not Mute.objects.exists()


def test_a_read_token_is_refused_muting_with_403_on_the_record(as_token, alert):
    response = as_token("Operator", "read").post(f"{OPS}/alerts/{alert.pk}/mute", {"duration": "1h"}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"code": "forbidden", "detail": "this token lacks the 'alerts:mute' scope"}
    event = AuditEvent.objects.get(action="alerts.mute")
    assert (event.outcome, event.via, event.token_name) == ("refused", "api", "chat")
    assert not Mute.objects.exists()


def test_a_channel_test_answers_the_channels_verdict(as_token, webhook):
    channel = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    client = as_token("Admin", "alerts:test")

    sent = client.post(f"{OPS}/alert-channels/{channel.pk}/test")
    assert sent.status_code == HTTPStatus.OK
    assert (sent.json()["status"], sent.json()["channel"]) == ("sent", "hook")
    webhook.status = 500
    failed = client.post(f"{OPS}/alert-channels/{channel.pk}/test").json()
    assert failed["status"] == "failed" and "s3cr3t-token-value" not in failed["error"]
    assert client.post(f"{OPS}/alert-channels/{channel.pk + 1}/test").status_code == HTTPStatus.NOT_FOUND
    outcomes = AuditEvent.objects.filter(action="alerts.channel_test").order_by("id").values_list("outcome", flat=True)
    assert list(outcomes) == ["ok", "failed"]


def test_an_operator_may_not_send_a_channel_test_even_with_the_scope(as_token, webhook):
    channel = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    response = as_token("Operator", "alerts:test").post(f"{OPS}/alert-channels/{channel.pk}/test")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "lacks alerts.change_channel" in response.json()["detail"]
    assert webhook.bodies == []
