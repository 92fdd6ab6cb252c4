"""JSON from a form or a client is bounded in size and nesting: a form error or a 400, never a 500."""

import json
from http import HTTPStatus

import pytest

from opsportal.alerts.models import Rule
from opsportal.lib.jsonlimits import MAX_DEPTH, JSONRefused, json_loads_bounded

pytestmark = pytest.mark.django_db

OPS = "/api/v1/admin/ops"


def _rule_form(rule: Rule, thresholds: str) -> dict:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "target": "",
        "thresholds": thresholds,
        "grace_evaluations": 3,
        "grace_seconds": 60,
        "reminder_seconds": 0,
        "flap_transitions": 4,
        "flap_window_seconds": 3600,
        "enabled": "on",
    }


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ("[" * 100_000, "Refused: longer than 65536 bytes."),  # the input
        ("[" * 60_000, f"Refused: nested more than {MAX_DEPTH} levels deep."),  # a RecursionError in json.loads
        ("[" * 500 + "]" * 500, f"Refused: nested more than {MAX_DEPTH} levels deep."),  # parses, too deep to keep
        (json.dumps({"cpu": 0.5, "pad": "x" * 70_000}), "Refused: longer than 65536 bytes."),
    ],
    ids=["unbalanced-100k", "unbalanced-60k", "balanced-500", "over-64KiB"],
)
def test_the_rule_form_refuses_json_too_deep_or_too_long_with_a_form_error(admin_client, thresholds, message):
    rule = Rule.objects.get(kind="host")
    before = rule.thresholds
    response = admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", _rule_form(rule, thresholds))
    assert response.status_code == HTTPStatus.OK
    assert message in response.content.decode()
    rule.refresh_from_db()
    assert rule.thresholds == before


def test_the_rule_form_still_takes_ordinary_thresholds(admin_client):
    rule = Rule.objects.get(kind="host")
    response = admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", _rule_form(rule, '{"cpu": 0.5}'))
    assert response.status_code == HTTPStatus.FOUND
    rule.refresh_from_db()
    assert rule.thresholds == {"cpu": 0.5}


def test_json_loads_bounded_parses_up_to_the_caps_and_refuses_past_them():
    at_cap = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert json_loads_bounded(at_cap, max_bytes=len(at_cap)) is not None
    with pytest.raises(JSONRefused, match="nested"):
        json_loads_bounded("[" + at_cap + "]")
    with pytest.raises(JSONRefused, match="longer than"):
        json_loads_bounded(at_cap, max_bytes=len(at_cap) - 1)
    with pytest.raises(json.JSONDecodeError):
        json_loads_bounded("{nope")


@pytest.fixture
def restarter_api(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read', 'restart')}")
    return api_client


def test_a_restart_body_nested_past_the_cap_is_400_in_the_error_shape(restarter_api):
    body = json.dumps({"timeout": 5, "x": json.loads("[" * 100 + "]" * 100)})
    response = restarter_api.post(
        f"{OPS}/containers/wallet-core-staging-web-abc1234/restart", body, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    detail = f"body: JSON nested more than {MAX_DEPTH} levels deep"
    assert response.json() == {"code": "invalid_param", "detail": detail}
