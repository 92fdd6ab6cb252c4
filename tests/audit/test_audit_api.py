"""GET /api/v1/admin/ops/audit: the trail for tools, behind a read token, filtered, paged newest first with the
API kit's cursor, or exported as JSON Lines oldest first."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from opsportal.audit.services import Actor, Outcome, audit_record

URL = "/api/v1/admin/ops/audit"
pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    return api_client


def _trail(count: int = 5):
    now = timezone.now()
    actors = [Actor.cli("deploy"), Actor(name="ana", via="portal"), Actor.api(owner_name="ci", token_name="grafana")]
    actions = ["jobs.pause", "container.restart", "token.create"]
    return [
        audit_record(actor=actors[i % 3], action=actions[i % 3], outcome=Outcome.FAILED if i == 1 else Outcome.OK,
                     target_type="job", targets=[f"t{i}"], now=now - timedelta(hours=count - i))
        for i in range(count)
    ]  # fmt: skip


def test_a_read_token_gets_the_newest_events_first_with_every_field(reader):
    events = _trail(3)
    body = reader.get(URL).json()
    assert [event["id"] for event in body["results"]] == [events[2].id, events[1].id, events[0].id]
    assert body["next"] is None
    assert body["results"][0] == {
        "id": events[2].id, "created_at": events[2].created_at.isoformat().replace("+00:00", "Z"), "actor": "ci",
        "via": "api", "token_name": "grafana", "action": "token.create", "target_type": "job", "targets": ["t2"],
        "target_count": 1, "changed": None, "outcome": "ok", "detail": "", "changes": {},
        "prev_hash": events[1].row_hash, "row_hash": events[2].row_hash,
    }  # fmt: skip
    assert len(events[2].row_hash) == 64


def test_pages_follow_with_the_cursor_until_the_last(reader):
    events = _trail(5)
    first = reader.get(URL, {"limit": 2})
    assert [e["id"] for e in first.json()["results"]] == [events[4].id, events[3].id]
    assert first["Link"] == f'<{first.json()["next"]}>; rel="next"'
    _trail(1)  # written between two pages: the next one still starts where the first ended
    second = reader.get(first.json()["next"]).json()
    assert [e["id"] for e in second["results"]] == [events[2].id, events[1].id]
    last = reader.get(second["next"]).json()
    assert [e["id"] for e in last["results"]] == [events[0].id] and last["next"] is None


@pytest.mark.parametrize(
    ("query", "indexes"),
    [
        ({"action": "container.restart"}, [4, 1]),
        ({"action": "jobs."}, [3, 0]),
        ({"actor": "ana"}, [4, 1]),
        ({"via": "cli"}, [3, 0]),
        ({"outcome": "failed"}, [1]),
        ({"since": "150m"}, [4, 3]),
        ({"until": "150m", "via": "portal"}, [1]),
        ({"actor": "an"}, []),  # exact, not a substring
    ],
)
def test_filters(reader, query, indexes):
    events = _trail(5)
    assert [e["id"] for e in reader.get(URL, query).json()["results"]] == [events[i].id for i in indexes]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"limit": "0"}, "limit: a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit: a whole number from 1 to 1000"),
        ({"limit": "many"}, "limit: a whole number from 1 to 1000"),
        ({"cursor": "forged"}, "cursor: not a cursor this list gave (take it from a page's next)"),
        ({"before": "-1"}, "before: Ensure this value is greater than or equal to 1."),
        ({"before": str(2**63)}, "before: Ensure this value is less than or equal to 9223372036854775807."),
        ({"via": "email"}, 'via: "email" is not a valid choice.'),
        ({"outcome": "maybe"}, 'outcome: "maybe" is not a valid choice.'),
        ({"since": "yesterday"}, "since: expected ISO-8601 or a relative age like 30s, 15m, 2h, 1d"),
        ({"since": "1h", "until": "2h"}, "since: is after until"),
        ({"action": "x" * 65}, "action: Ensure this field has no more than 64 characters."),
    ],
)
def test_bad_parameters_are_400_naming_them(reader, query, detail):
    response = reader.get(URL, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"code": "invalid_param", "detail": detail}


def test_it_needs_a_token_with_the_read_scope(api_client, token_for):
    assert api_client.get(URL).status_code == HTTPStatus.UNAUTHORIZED
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('restart')}")
    response = api_client.get(URL)
    assert response.status_code == HTTPStatus.FORBIDDEN and response.json()["code"] == "forbidden"


def test_the_limit_defaults_to_100(reader):
    _trail(101)
    body = reader.get(URL).json()
    assert len(body["results"]) == 100 and body["next"] is not None


def test_it_is_in_the_openapi_schema_and_answers_as_described(reader):
    import jsonschema

    from tests.opsportal.helpers import openapi_schema

    schema = openapi_schema()
    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "audit_list" and operation["security"] == [{"bearerToken": []}]
    assert {p["name"] for p in operation["parameters"]} == {
        "since", "until", "action", "actor", "via", "outcome", "target", "before", "after", "limit", "cursor",
        "format",
    }  # fmt: skip
    _trail(2)
    page = {**schema["components"]["schemas"]["AuditPage"], "components": schema["components"]}
    jsonschema.Draft202012Validator(page).validate(reader.get(URL).json())


def _lines(response) -> list[dict]:
    import json

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_json_lines_export_every_row_oldest_first_with_its_hashes_and_resumes_after_an_id(reader, settings):
    from opsportal.audit import selectors

    events = _trail(5)
    lines = _lines(reader.get(URL, {"format": "jsonl"}))
    assert [line["id"] for line in lines] == [event.id for event in events]
    assert [line["prev_hash"] for line in lines[1:]] == [line["row_hash"] for line in lines[:-1]]
    assert lines[2]["row_hash"] == events[2].row_hash and lines[0]["targets"] == ["t0"]
    resumed = _lines(reader.get(URL, {"after": events[2].id}, HTTP_ACCEPT="application/x-ndjson"))
    assert [line["id"] for line in resumed] == [events[3].id, events[4].id]
    only = _lines(reader.get(URL, {"format": "jsonl", "action": "jobs.pause"}))
    assert {line["action"] for line in only} == {"jobs.pause"} and len(only) == 2
    selectors.EXPORT_CHUNK, chunk = 2, selectors.EXPORT_CHUNK  # past one chunk: every row, once
    try:
        assert [line["id"] for line in _lines(reader.get(URL, {"format": "jsonl"}))] == [e.id for e in events]
    finally:
        selectors.EXPORT_CHUNK = chunk


def test_json_lines_refuses_a_bad_parameter_as_one_json_line(reader):
    response = reader.get(URL, {"format": "jsonl", "after": "soon"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response.content.startswith(b'{"code": "invalid_param", "detail": "after:')


def test_json_lines_is_in_the_openapi_schema(reader):
    from tests.opsportal.helpers import openapi_schema

    content = openapi_schema()["paths"][URL]["get"]["responses"]["200"]["content"]
    assert set(content) >= {"application/json", "application/x-ndjson"}
    assert content["application/x-ndjson"]["schema"] == {"$ref": "#/components/schemas/AuditEvent"}
