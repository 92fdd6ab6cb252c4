"""The alert actions as services: the service decides who may (a token: its scope and its owner's
permission), records every refusal, and the channel test leaves its row."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, User

from opsportal.alerts.delivery import ChannelTestRefused, channel_test_send
from opsportal.alerts.models import Channel, Mute
from opsportal.alerts.services import (
    AlertActionForbidden,
    AlertActionRefused,
    alert_acknowledge,
    alert_mute_preset,
    alert_unacknowledge,
    alert_unmute,
)
from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from opsportal.lib.actors import Actor
from tests.alerts.helpers import fire_one

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _person(role: str) -> User:
    user = User.objects.create_user(f"{role.lower()}-user", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def alert(plannings_health):
    with time_machine.travel(START, tick=False) as clock:
        return fire_one(plannings_health, clock)


def _rows(action: str) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(action=action).order_by("id").values_list("outcome", "actor"))


def test_acknowledge_and_take_back_leave_one_row_each_and_a_second_take_back_is_refused_and_recorded(alert):
    operator = Actor.portal(_person("Operator"))
    alert_acknowledge(actor=operator, alert=alert, comment="on it")
    alert_unacknowledge(actor=operator, alert=alert)
    with pytest.raises(AlertActionRefused, match="nothing to take back"):
        alert_unacknowledge(actor=operator, alert=alert)
    assert _rows("alerts.acknowledge") == [("ok", "operator-user")]
    assert _rows("alerts.unacknowledge") == [("ok", "operator-user"), ("refused", "operator-user")]


def test_a_second_acknowledgement_is_refused_and_recorded(alert):
    operator = Actor.portal(_person("Operator"))
    alert_acknowledge(actor=operator, alert=alert, comment="")
    with pytest.raises(AlertActionRefused, match="acknowledged already"):
        alert_acknowledge(actor=operator, alert=alert, comment="")
    assert _rows("alerts.acknowledge") == [("ok", "operator-user"), ("refused", "operator-user")]


def test_mute_then_unmute_from_the_alert_with_a_comment(alert):
    operator = Actor.portal(_person("Operator"))
    mute = alert_mute_preset(actor=operator, alert=alert, preset="1h", comment="deploying", now=START)
    assert mute.reason == f"muted 1 h from alert #{alert.pk}: deploying"
    assert alert_unmute(actor=operator, alert=alert, now=START) == 1
    assert not Mute.objects.exists()
    with pytest.raises(AlertActionRefused, match="not muted"):
        alert_unmute(actor=operator, alert=alert, now=START)
    assert _rows("alerts.mute") == [("ok", "operator-user")]
    assert _rows("alerts.unmute") == [("ok", "operator-user"), ("refused", "operator-user")]


def test_a_viewer_is_refused_every_alert_action_and_each_refusal_is_recorded(alert):
    viewer = Actor.portal(_person("Viewer"))
    for action, call in (
        ("alerts.acknowledge", lambda: alert_acknowledge(actor=viewer, alert=alert, comment="")),
        ("alerts.unacknowledge", lambda: alert_unacknowledge(actor=viewer, alert=alert)),
        ("alerts.mute", lambda: alert_mute_preset(actor=viewer, alert=alert, preset="1h")),
        ("alerts.unmute", lambda: alert_unmute(actor=viewer, alert=alert)),
    ):
        with pytest.raises(AlertActionForbidden):
            call()
        assert _rows(action) == [("refused", "viewer-user")], action
    assert not Mute.objects.exists()


def test_a_token_needs_the_mute_scope_and_its_owner_the_permission(alert):
    operator, viewer = _person("Operator"), _person("Viewer")
    tester = Actor.api(api_token_create(name="t", scopes=["alerts:test"], owner=operator).token)
    with pytest.raises(AlertActionForbidden, match="lacks the 'alerts:mute' scope"):
        alert_acknowledge(actor=tester, alert=alert, comment="")
    lent = Actor.api(api_token_create(name="t", scopes=["alerts:mute"], owner=viewer).token)
    with pytest.raises(AlertActionForbidden, match="owner viewer-user lacks alerts.add_mute"):
        alert_mute_preset(actor=lent, alert=alert, preset="4h")
    muter = Actor.api(api_token_create(name="t", scopes=["alerts:mute"], owner=operator).token)
    alert_mute_preset(actor=muter, alert=alert, preset="4h")
    alert_acknowledge(actor=muter, alert=alert, comment="")
    assert Mute.objects.count() == 1


def test_the_channel_test_is_recorded_and_refused_to_who_may_not_change_channels(webhook):
    channel = Channel.objects.create(name="hook", kind="webhook", url=webhook.url)
    with pytest.raises(ChannelTestRefused):
        channel_test_send(actor=Actor.portal(_person("Operator")), channel=channel)
    row = channel_test_send(actor=Actor.portal(_person("Admin")), channel=channel)
    assert row.status == "sent" and len(webhook.bodies) == 1
    assert _rows("alerts.channel_test") == [("refused", "operator-user"), ("ok", "admin-user")]
