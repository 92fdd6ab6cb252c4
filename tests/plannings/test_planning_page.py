"""A planning's page: its state, backup, feed and refresh attempts in one place, and its three audited buttons."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from opsportal.audit.models import AuditEvent
from opsportal.audit.services import REFUSALS_KEPT_PER_MINUTE
from plannings.models import PlanningRefreshQueue, PlanningRefreshState, RefreshAttempt
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PAGE = "/admin/plannings/planning/s.a/change/"
OPERATE = "/admin/plannings/planning/s.a/operate/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def looker(client, django_user_model):
    return factories.plannings_staff_login(client, "looker")


@pytest.fixture
def operator(client, django_user_model):
    return factories.plannings_staff_login(client, "operator", "operate_plannings")


def _attempt(full_id: str, minutes_ago: int, outcome: str = "success", **fields) -> RefreshAttempt:
    when = NOW - timedelta(minutes=minutes_ago)
    return RefreshAttempt(planning_id=full_id, started_at=when, finished_at=when, outcome=outcome, **fields)


@pytest.fixture
def story():
    planning = factories.planning_make("s.a", title="Groupe A", url="https://feeds.test/a.ics?from={date-start}")
    factories.backup_make(
        planning, events=[{"uid": "1"}, {"uid": "2"}, {"uid": "3"}], signature="0cc175b9c0f1b6a831c399e269772661",
        updated_at=NOW - timedelta(hours=8),
    )  # fmt: skip
    factories.disabled_state_make(
        planning, until=NOW + timedelta(days=30), kind="http_4xx", last_error="http_404", consecutive_failures=4
    )
    RefreshAttempt.objects.bulk_create(
        [
            _attempt("s.a", 90, bytes=5120, events=3, http_status=200, duration_ms=41, worker="host-a:12:beef"),
            _attempt("s.a", 30, "parse_error", http_status=200, bytes=31, body_head="<html>oops</html>",
                     error="parse_error: not iCalendar"),
            _attempt("s.a", 10, "http_4xx", http_status=404, disabled=True, duration_ms=7, error="http_4xx: HTTP 404"),
        ]
    )  # fmt: skip
    return planning


def _page(client) -> str:
    response = client.get(PAGE)
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def test_the_page_shows_the_state_the_backup_and_the_feed(admin_client, story):
    page = _page(admin_client)
    assert '<h2 class="story-full-id">s.a</h2>' in page
    assert ">disabled</span>" in page and "last failure: <strong>HTTP 404</strong>" in page
    assert "<tr><th>consecutive failures</th><td>4</td></tr>" in page
    assert "<tr><th>events</th><td>3</td></tr>" in page
    assert "<code>0cc175b9c0f1b6a831c399e269772661</code>" in page
    assert "8 h ago</time>, stale" in page
    assert 'href="/admin/plannings/planningbackup/s.a/change/"' in page
    # The URL the worker fetches (its date templates filled), as a link that leaks nothing to the feed's server.
    assert (
        '<a href="https://feeds.test/a.ics?from=2026-02-10" rel="noopener noreferrer" id="story-feed-link">'
        "https://feeds.test/a.ics?from={date-start}</a>"
    ) in page


def test_the_attempts_are_listed_newest_first_with_what_each_measured(admin_client, story):
    page = _page(admin_client)
    rows = page.split('<tr class="story-attempt')[1:]
    assert [row.split('"', 1)[0] for row in rows] == [" story-outcome-http_4xx", " story-outcome-parse_error",
                                                     " story-outcome-success"]  # fmt: skip
    assert "<td>HTTP 4xx, disabled</td>" in rows[0] and ">404</td>" in rows[0] and "7 ms" in rows[0]
    assert '<code class="story-head">&lt;html&gt;oops&lt;/html&gt;</code>' in rows[1]
    assert "<td>success</td>" in rows[2] and ">5120</td>" in rows[2] and "41 ms" in rows[2]


def test_the_page_lists_the_last_50_attempts(admin_client, story):
    RefreshAttempt.objects.bulk_create(_attempt("s.a", 200 + minutes) for minutes in range(60))
    assert _page(admin_client).count('<tr class="story-attempt') == 50


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://feeds.test/a.ics", None])
def test_a_feed_url_that_is_not_http_is_shown_but_not_linked(admin_client, url):
    factories.planning_make("s.a", url=url)
    page = _page(admin_client)
    assert "story-feed-link" not in page
    assert "No attempt recorded yet." in page and "Never refreshed" in page and "No backup" in page


def test_a_missing_planning_redirects_to_the_list_with_a_message(admin_client):
    response = admin_client.get("/admin/plannings/planning/nope/change/", follow=True)
    assert response.redirect_chain[-1][0] == "/admin/"


# --- The buttons --------------------------------------------------------------------------


def test_an_operator_sees_the_three_buttons_and_a_looker_none(operator, story, client, django_user_model):
    page = _page(operator)
    for slug, label in (("refresh-now", "Refresh now"), ("reenable", "Re-enable"), ("retry-now", "Retry now")):
        assert f'<form method="post" action="{OPERATE}{slug}/">' in page
        assert f'value="{label}"' in page
    other = factories.plannings_staff_login(Client(), "looker")
    assert 'id="story-actions"' not in _page(other)


def _audits():
    return list(
        AuditEvent.objects.order_by("id").values_list("action", "actor", "via", "targets", "changed", "outcome")
    )


def test_refresh_now_queues_the_planning_and_is_audited(operator, story):
    response = operator.post(f"{OPERATE}refresh-now/", follow=True)
    assert response.redirect_chain == [(PAGE, HTTPStatus.FOUND)]
    assert [str(m) for m in response.context["messages"]] == ["Queued for a refresh."]
    assert PlanningRefreshQueue.objects.get(planning_id="s.a").priority == 10
    assert _audits() == [("plannings.refresh_now", "operator", "portal", ["s.a"], 1, "ok")]

    again = operator.post(f"{OPERATE}refresh-now/", follow=True)
    assert [str(m) for m in again.context["messages"]] == ["Skipped: already requested in the last 30 seconds."]
    assert _audits()[-1] == ("plannings.refresh_now", "operator", "portal", ["s.a"], 0, "ok")


def test_reenable_clears_the_disable_and_is_audited(operator, story):
    response = operator.post(f"{OPERATE}reenable/", follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Re-enabled and queued for a refresh."]
    assert PlanningRefreshState.objects.get(planning_id="s.a").disabled_until is None
    assert _audits() == [("plannings.reenable", "operator", "portal", ["s.a"], 1, "ok")]
    skipped = operator.post(f"{OPERATE}reenable/", follow=True)
    assert [str(m) for m in skipped.context["messages"]] == ["Skipped: not disabled."]


def test_retry_now_moves_a_waiting_attempt_to_now_and_is_audited(operator, story):
    factories.queue_item_make(story, attempts=2, next_attempt_at=NOW + timedelta(minutes=5))
    response = operator.post(f"{OPERATE}retry-now/", follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Moved the next attempt to now."]
    assert PlanningRefreshQueue.objects.get(planning_id="s.a").next_attempt_at == NOW
    assert _audits() == [("plannings.retry_now", "operator", "portal", ["s.a"], 1, "ok")]


def test_a_looker_cannot_press_a_button_and_the_refusal_is_audited(looker, story):
    before = list(PlanningRefreshState.objects.values())
    assert looker.post(f"{OPERATE}reenable/").status_code == HTTPStatus.FORBIDDEN
    assert list(PlanningRefreshState.objects.values()) == before
    assert not PlanningRefreshQueue.objects.exists()
    assert _audits() == [("plannings.reenable", "looker", "portal", ["s.a"], None, "refused")]


def test_a_looker_pressing_in_a_loop_cannot_grow_the_audit_trail_without_bound(looker, story):
    for _ in range(REFUSALS_KEPT_PER_MINUTE + 5):
        assert looker.post(f"{OPERATE}refresh-now/").status_code == HTTPStatus.FORBIDDEN
    assert len(_audits()) == REFUSALS_KEPT_PER_MINUTE


def test_the_buttons_take_only_a_post_with_its_csrf_token(story, django_user_model):
    client = factories.plannings_staff_login(Client(enforce_csrf_checks=True), "operator", "operate_plannings")
    assert client.get(f"{OPERATE}refresh-now/").status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.post(f"{OPERATE}refresh-now/").status_code == HTTPStatus.FORBIDDEN
    assert client.post(f"{OPERATE}delete/").status_code == HTTPStatus.FORBIDDEN  # CSRF is checked first
    assert not PlanningRefreshQueue.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_unknown_button_is_not_found(operator, story):
    assert operator.post(f"{OPERATE}delete/").status_code == HTTPStatus.NOT_FOUND


# --- The bulk actions of the change lists are audited too ---------------------------------


@pytest.mark.parametrize(
    ("model", "action", "extra", "audited", "targets"),
    [
        ("planning", "refresh_now", {}, "plannings.refresh_now", ["s.a", "s.b"]),
        ("planningrefreshstate", "reenable", {}, "plannings.reenable", ["s.a", "s.b"]),
        # The queue's list holds only the queued one of the two.
        ("planningrefreshqueue", "release_locks", {"post": "yes"}, "plannings.release_locks", ["s.a"]),
        ("planning", "retry_now", {}, "plannings.retry_now", ["s.a", "s.b"]),
    ],
)
def test_each_bulk_action_is_audited_with_its_targets_and_count(operator, model, action, extra, audited, targets):
    for full_id in ("s.a", "s.b"):
        planning = factories.planning_make(full_id)
        factories.disabled_state_make(planning, until=NOW + timedelta(hours=1))
    factories.queue_item_make(
        PlanningRefreshState.objects.get(pk="s.a").planning,
        locked_at=NOW - timedelta(minutes=1), lock_owner="w", next_attempt_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    data = {"action": action, ACTION_CHECKBOX_NAME: ["s.a", "s.b"], "index": "0", **extra}
    operator.post(f"/admin/plannings/{model}/", data)
    changed = {"refresh_now": 2, "reenable": 2, "release_locks": 1, "retry_now": 1}[action]
    [(name, actor, via, audited_targets, count, outcome)] = _audits()
    assert (name, actor, via, sorted(audited_targets), count, outcome) == (
        audited, "operator", "portal", targets, changed, "ok",
    )  # fmt: skip


def test_a_refused_refresh_over_the_limit_is_audited(operator, monkeypatch):
    monkeypatch.setattr("plannings.operator_actions.REFRESH_NOW_LIMIT", 1)
    factories.plannings_make(3)
    operator.post("/admin/plannings/planning/", {"action": "refresh_now", "select_across": "1", "index": "0",
                                                 ACTION_CHECKBOX_NAME: ["school.p0"]})  # fmt: skip
    assert not PlanningRefreshQueue.objects.exists()
    [(name, _, _, targets, changed, outcome)] = _audits()
    assert (name, len(targets), changed, outcome) == ("plannings.refresh_now", 2, None, "refused")


# --- The list's failure kinds, with counts --------------------------------------------------


def test_the_list_filters_by_failure_kind_with_counts_from_one_grouped_query(admin_client):
    plannings = factories.plannings_make(6)
    for planning, kind, error in [
        (plannings[0], "http_4xx", "http_404"),
        (plannings[1], "http_4xx", "http_404"),
        (plannings[2], "http_4xx", "http_410"),
        (plannings[3], "timeout", "max_attempts"),
        (plannings[4], None, None),
    ]:
        factories.state_make(planning, last_failure_kind=kind, last_error=error)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/plannings/planning/")
    # One statement for the counts: a GROUP BY over the states, or on PostgreSQL the trigger-kept
    # counts per label (opsportal_failure_labels: flat in the catalog).
    kept = "opsportal_failure_labels" if connection.vendor == "postgresql" else "GROUP BY"
    assert len([q["sql"] for q in queries.captured_queries if kept in q["sql"]]) == 1
    [spec] = [f for f in response.context["cl"].filter_specs if f.parameter_name == "failure"]
    assert [label for _, label in spec.lookup_choices] == ["any (4)", "HTTP 404 (2)", "HTTP 410 (1)", "timeout (1)"]

    listed = admin_client.get("/admin/plannings/planning/?failure=http_404").context["cl"].result_list
    assert sorted(p.pk for p in listed) == ["school.p0", "school.p1"]
    listed = admin_client.get("/admin/plannings/planning/?failure=timeout").context["cl"].result_list
    assert [p.pk for p in listed] == ["school.p3"]


# --- Query counts at 100,000 plannings ------------------------------------------------------


def _catalog(count: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO plannings (full_id, planning_id, url, title, created_at, updated_at) "
            "SELECT 'big.p' || i, 'big', 'https://x.test/' || i, 'p' || i, now(), now() "
            "FROM generate_series(1, %s) AS i",
            [count],
        )
        cursor.execute(
            "INSERT INTO plannings_refresh_state (planning_full_id, consecutive_failures, last_failure_kind, "
            "last_error, updated_at) SELECT full_id, 1, 'timeout', 'timeout', now() FROM plannings "
            "WHERE full_id LIKE 'big.p%%5'"
        )
        cursor.execute("ANALYZE")


@pytest.mark.postgres_only
def test_the_page_and_the_lists_run_a_fixed_number_of_queries_at_100000_plannings(
    admin_client, story, django_assert_num_queries
):
    _catalog(100_000)
    RefreshAttempt.objects.bulk_create(_attempt("s.a", 200 + minutes) for minutes in range(60))
    admin_client.get(PAGE)  # the session is read once per request either way
    # Session, user, the planning with its rows, its attempts.
    with django_assert_num_queries(4):
        assert _page(admin_client).count('<tr class="story-attempt') == 50
    # Session, user, the page's count and rows, then one per filter that reads its choices (failure kinds:
    # one grouped query; hosts; the queue's last errors).
    for model, queries in (("planning", 6), ("planningbackup", 5), ("planningrefreshqueue", 6),
                           ("planningrefreshstate", 6)):  # fmt: skip
        with django_assert_num_queries(queries):
            assert admin_client.get(f"/admin/plannings/{model}/").status_code == HTTPStatus.OK


def test_an_attempt_faster_than_a_millisecond_says_so_not_0_ms(admin_client, story):
    _attempt("s.a", 1, "http_4xx", http_status=404, duration_ms=0).save()
    row = _page(admin_client).split('<tr class="story-attempt')[1]
    assert ">&lt;1 ms</td>" in row and ">0 ms<" not in row
