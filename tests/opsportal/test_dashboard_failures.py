"""The dashboard says what the health API's rule leaves out: the feeds failing now, by kind and by host."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from plannings import selectors
from tests import factories
from tests.opsportal.helpers import DASHBOARD, panel_html

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("outages")]


def _failing(plannings, *, kind: str, minutes_ago: int, disabled: bool = False) -> None:
    now = timezone.now()
    for planning in plannings:
        factories.state_make(
            planning, last_failure_kind=kind, consecutive_failures=1,
            last_attempt_at=now - timedelta(minutes=minutes_ago),
            disabled_until=now + timedelta(hours=1) if disabled else None,
        )  # fmt: skip


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_a_healthy_status_is_never_shown_alone_while_feeds_fail(admin_client):
    factories.both_jobs_running()
    iut = factories.plannings_make(60, school="iut")
    enscr = factories.plannings_make(40, school="enscr")
    factories.plannings_make(25, school="insa")
    # 16 of 125 feeds failing and retrying: none disabled, so upstream's rule sees nothing.
    _failing(iut[:10], kind="http_5xx", minutes_ago=5)
    _failing(enscr[:6], kind="timeout", minutes_ago=20)
    plannings = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    assert 'data-status="healthy"' in plannings
    verdict = _text(re.search(r'<p id="plannings-verdict">.*?</p>', plannings, re.S).group(0))
    assert verdict == "Healthy per the API rule (no issues); 16 feeds failing (13 %) on 2 of 3 hosts (67 %)."
    assert "No issues." not in plannings


def test_failures_by_kind_count_the_last_hour_only(admin_client):
    factories.both_jobs_running()
    plannings = factories.plannings_make(10, school="iut")
    _failing(plannings[:3], kind="http_5xx", minutes_ago=5)
    _failing(plannings[3:4], kind="invalid_body", minutes_ago=50, disabled=True)
    _failing(plannings[4:6], kind="timeout", minutes_ago=61)  # failing still, but not in the last hour
    by_kind = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    by_kind = re.search(r'<div id="failures-by-kind">.*?</div>\s*</div>', by_kind, re.S).group(0)
    rows = re.findall(r"<tr><td>(?:<a [^>]*>)?([\w ]+)(?:</a>)?</td><td>(\d+)</td><td><time", by_kind)
    assert rows == [("HTTP 5xx", "3"), ("invalid body", "1")]


def test_a_failure_kind_links_to_the_plannings_failing_with_it(admin_client):
    factories.both_jobs_running()
    plannings = factories.plannings_make(6, school="iut")
    _failing(plannings[:2], kind="timeout", minutes_ago=5)
    _failing(plannings[2:3], kind="parse_error", minutes_ago=5)
    page = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    link = re.search(r'<a href="([^"]+)"[^>]*>timeout</a>', page).group(1).replace("&amp;", "&")
    assert link.endswith("?failure=timeout")
    listed = admin_client.get(link)
    assert listed.status_code == HTTPStatus.OK
    assert sorted(row.pk for row in listed.context["cl"].result_list) == sorted(p.pk for p in plannings[:2])


def test_hosts_failing_now_show_their_count_and_share_and_link_to_their_rows(admin_client):
    factories.both_jobs_running()
    enscr = factories.plannings_make(4, school="enscr")
    factories.plannings_make(5, school="iut")
    _failing(enscr[:3], kind="timeout", minutes_ago=300)
    hosts = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    hosts = re.search(r'<div id="failing-hosts">.*?</div>\s*</div>', hosts, re.S).group(0)
    assert '<a href="/admin/plannings/planningrefreshstate/?host=enscr">enscr</a>' in hosts
    assert "<td>3 of 4</td><td>75 %</td>" in hosts and "iut" not in hosts


def test_a_success_clears_a_feed_from_the_failing_figures():
    now = timezone.now()
    planning = factories.planning_make("iut.a")
    factories.state_make(planning, last_failure_kind=None, last_attempt_at=now, last_success_at=now)
    figures = selectors.failing_feeds()
    assert (figures.feeds, figures.failing, figures.failing_hosts) == (1, 0, ())
    assert selectors.failures_by_kind(now=now) == []


def test_plannings_without_a_feed_url_are_not_feeds():
    factories.planning_make("iut.a")
    factories.planning_make("iut.b", url=None)
    factories.planning_make("iut.c", url="")
    assert selectors.failing_feeds().feeds == 1


def test_the_dashboard_queries_stay_fixed_as_failing_hosts_and_kinds_grow(admin_client):
    factories.both_jobs_running()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(DASHBOARD).status_code == HTTPStatus.OK
        return len(captured)

    few = queries()
    for school in range(8):
        _failing(factories.plannings_make(5, school=f"s{school}"), kind=f"kind{school}", minutes_ago=school)
    assert queries() == few


def test_a_client_error_is_named_and_linked_by_its_status_as_the_list_filter_names_it(admin_client):
    """The dashboard said http_4xx, unlinked, where the plannings list's filter says HTTP 404 (http_404)."""
    factories.both_jobs_running()
    plannings = factories.plannings_make(5, school="iut")
    now = timezone.now()
    for planning in plannings[:2]:
        factories.state_make(planning, last_failure_kind="http_4xx", last_error="http_404", consecutive_failures=1,
                             last_attempt_at=now - timedelta(minutes=3))  # fmt: skip
    _failing(plannings[2:3], kind="timeout", minutes_ago=3)
    page = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    link = re.search(r'<a href="([^"]+)"[^>]*>HTTP 404</a>', page).group(1).replace("&amp;", "&")
    assert link == "/admin/plannings/planning/?failure=http_404" and "http_4xx" not in page
    listed = admin_client.get(link)
    assert sorted(row.pk for row in listed.context["cl"].result_list) == sorted(p.pk for p in plannings[:2])
    assert "HTTP 404 (2)" in listed.content.decode()  # the filter's own choice, the same name and count


def test_and_n_more_failing_hosts_links_every_failing_feed(admin_client):
    from opsportal.portal.dashboard import FAILING_HOSTS_SHOWN

    factories.both_jobs_running()
    failing = []
    for school in range(FAILING_HOSTS_SHOWN + 2):
        plannings = factories.plannings_make(2, school=f"s{school}")
        _failing(plannings[:1], kind="timeout", minutes_ago=5)
        failing.append(plannings[0])
    page = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    more = re.search(r'<a href="([^"]+)">and 2 more</a>', page)
    assert more is not None
    listed = admin_client.get(more.group(1).replace("&amp;", "&"))
    assert listed.status_code == HTTPStatus.OK
    assert sorted(row.pk for row in listed.context["cl"].result_list) == sorted(p.pk for p in failing)


def test_recently_disabled_links_the_planning_s_page_with_its_history_and_buttons(admin_client):
    factories.both_jobs_running()
    planning = factories.planning_make("enscr.g1.a")
    factories.disabled_state_make(planning, until=timezone.now() + timedelta(hours=1), kind="http_5xx",
                                  consecutive_failures=10, last_attempt_at=timezone.now())  # fmt: skip
    page = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    assert 'href="/admin/plannings/planning/enscr.g1.a/change/"' in page
    assert "/admin/plannings/planningrefreshstate/enscr.g1.a/change/" not in page
