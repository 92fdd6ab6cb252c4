"""The plannings change list counts its matches only up to a cap, so a filter's page costs the same at any size."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.lib.admin import CappedCountPaginator
from plannings.models import PlanningRefreshQueue
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/admin/plannings/planning/"


@pytest.fixture
def cap_of_120(monkeypatch):
    # Above the list's 100 a page, as the real cap is: past it, the list still pages.
    monkeypatch.setattr(CappedCountPaginator, "CAP", 120)


@pytest.fixture
def queued_240():
    plannings = factories.plannings_make(250)
    PlanningRefreshQueue.objects.bulk_create(
        PlanningRefreshQueue(planning=planning, next_attempt_at=timezone.now() - timedelta(minutes=1))
        for planning in plannings[:240]
    )


@pytest.mark.parametrize("query", ["", "?queued=yes", "?ready=yes"])
def test_a_count_past_the_cap_reads_at_most_cap_plus_one_rows_and_says_more_than(
    admin_client, cap_of_120, queued_240, query
):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(URL + query)
    assert response.status_code == HTTPStatus.OK
    # The failure filter's choices are a grouped count of their own; the list's count is the other one.
    counts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    if query and connection.vendor == "postgresql":
        # One filter alone: its count is read from the trigger-kept queue histogram, no planning counted.
        assert counts == [], counts
        assert any("opsportal_queue_histogram" in q["sql"] for q in queries.captured_queries)
    else:
        assert len(counts) == 1 and counts[0].endswith("LIMIT 121) subquery"), counts
    assert response.context["cl"].result_count == 121
    page = response.content.decode()
    assert "more than 120 plannings" in page
    assert "All matching plannings selected (more than 120)" in page
    assert len(response.context["cl"].result_list) == 100  # the first page of two


def test_a_count_within_the_cap_is_exact(admin_client, cap_of_120, queued_240):
    response = admin_client.get(URL + "?queued=no")
    assert response.context["cl"].result_count == 10
    page = response.content.decode()
    assert "10 plannings" in page and "more than" not in page
