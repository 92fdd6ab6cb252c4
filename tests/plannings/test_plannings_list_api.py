"""GET /api/v1/admin/ops/plannings: the catalog with its refresh state, filtered as the bulk action's filter,
paged with a cursor (``results``, ``next``)."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from tests import factories

URL = "/api/v1/admin/ops/plannings"
pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    return api_client


def test_pages_follow_next_through_the_whole_filtered_catalog(reader):
    factories.plannings_make(5, school="a")
    factories.plannings_make(2, school="b")

    seen, url, pages = [], f"{URL}?host=a&limit=2", 0
    while url:
        body = reader.get(url).json()
        seen += [row["full_id"] for row in body["results"]]
        url, pages = body["next"], pages + 1

    assert seen == [f"a.p{i}" for i in range(5)]
    assert pages == 3


def test_a_row_says_its_state_and_queue_and_the_filters_pick_the_rows(reader):
    now = timezone.now()
    off, queued = factories.planning_make("s.off"), factories.planning_make("s.queued")
    factories.planning_make("s.idle")
    factories.state_make(off, disabled_until=now + timedelta(hours=1), consecutive_failures=2,
                         last_failure_kind="http_4xx", last_error="http_404", updated_at=now)  # fmt: skip
    factories.queue_item_make(queued, priority=10, attempts=1, next_attempt_at=now + timedelta(hours=1))

    disabled = reader.get(URL, {"disabled": "true"}).json()["results"]
    assert [row["full_id"] for row in disabled] == ["s.off"]
    assert (disabled[0]["last_failure"], disabled[0]["consecutive_failures"], disabled[0]["host"]) == (
        "http_404",
        2,
        "s",
    )
    in_queue = reader.get(URL, {"queued": "yes"}).json()["results"]
    assert [(row["full_id"], row["queue"]["priority"]) for row in in_queue] == [("s.queued", 10)]
    assert [row["full_id"] for row in reader.get(URL, {"failure": "http_404"}).json()["results"]] == ["s.off"]
    idle = reader.get(URL, {"queued": "no", "disabled": "no"}).json()
    assert [row["full_id"] for row in idle["results"]] == ["s.idle"] and idle["next"] is None
    assert idle["results"][0]["queue"] is None


@pytest.mark.parametrize(("query", "param"), [({"cursor": "%%%"}, "cursor"), ({"stale": "old"}, "stale"),
                                              ({"limit": 0}, "limit"), ({"queued": "maybe"}, "queued")])  # fmt: skip
def test_a_bad_parameter_is_400_naming_it(reader, query, param):
    response = reader.get(URL, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith(f"{param}:")


def test_the_list_needs_a_token(api_client):
    assert api_client.get(URL).status_code == HTTPStatus.UNAUTHORIZED
