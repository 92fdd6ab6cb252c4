"""The Audit page and the audit API cost the same at any size of the trail (issue #23: ten million rows).

The page counts its matches only up to a cap (Django's change list counted every matching row on each view),
with the same statements at two sizes, and its rows and pages are those of a direct query in the page's order
(none skipped, none repeated). On PostgreSQL an object's history (the API's ``?target=``, the page's search)
reads its own rows through the indexes of ``0005_search_indexes``, not the whole trail: the rows the
statements read are this transaction's ``pg_stat_xact_user_tables`` counts.
"""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from tests.capped_lists import page_and_statements

PAGE = "/admin/audit/auditevent/"
API = "/api/v1/admin/ops/audit"
ACTIONS = ("jobs.pause", "container.restart", "token.create")
VIAS = ("portal", "api", "cli")
pytestmark = pytest.mark.django_db


def _events(count: int, *, offset: int = 0) -> None:
    # Two rows a minute, older as i grows: equal times exercise the order's tie-break on id.
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(created_at=now - timedelta(minutes=(offset + i) // 2), actor=f"user{i % 3}", via=VIAS[i % 3],
                   action=ACTIONS[i % 3], outcome="failed" if i % 4 == 0 else "ok", target_type="job",
                   targets=[f"t{i % 40}"], target_count=1)
        for i in range(count)
    )  # fmt: skip


# Each of the page's filters and its search, with the rows it must give (by the model, not by the admin).
QUERIES = {
    "bare": ({}, Q()),
    "action prefix": ({"action": "container."}, Q(action__startswith="container.")),
    "action": ({"action": "jobs.pause"}, Q(action="jobs.pause")),
    "via": ({"via__exact": "api"}, Q(via="api")),
    "outcome": ({"outcome__exact": "ok"}, Q(outcome="ok")),
    "date": ({"created_at__gte": "2000-01-01T00:00:00+00:00"}, Q(created_at__gte=datetime(2000, 1, 1, tzinfo=UTC))),
    "search": ({"q": "user2"}, Q(actor__icontains="user2")),
}


def _page(admin_client, query: dict):
    return page_and_statements(admin_client, PAGE, query)


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_audit_page_counts_up_to_the_cap_with_the_same_statements_at_two_sizes(admin_client, cap_of_120, name):
    query, rows = QUERIES[name]
    _events(300)
    admin_client.get(PAGE)  # the session's first view, which may write it
    _, small = _page(admin_client, query)
    _events(300, offset=300)
    response, large = _page(admin_client, query)
    assert len(large) == len(small)
    counts = [sql for sql in large if sql.startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and counts[0].endswith("LIMIT 121) subquery"), counts
    expected = list(AuditEvent.objects.filter(rows).order_by("-created_at", "-id").values_list("id", flat=True))
    assert len(expected) > 121
    assert "more than 120 audit events" in response.content.decode()
    # The pages (two: the count stops at 121) are the first 121 rows of a direct query, in its order: none
    # skipped, none repeated.
    first = [event.id for event in response.context["cl"].result_list]
    second, _ = _page(admin_client, {**query, "p": "2"})
    assert first + [event.id for event in second.context["cl"].result_list] == expected[:121]


# --- PostgreSQL: an object's history reads its rows ---------------------------------------------------------

TRAIL = 20_000
FILL = """
    INSERT INTO audit_event (created_at, actor, via, token_name, action, target_type, targets, target_count,
                             outcome, detail, changes, prev_hash, row_hash)
    SELECT now() - i * interval '1 second', 'user-' || (i %% 50), 'portal', '', 'container.restart', 'container',
           jsonb_build_array('obj-' || (i %% 5000)), 1, 'ok', '', '{}'::jsonb, '', ''
    FROM generate_series(1, %s) AS i
"""


def _rows_read(table: str) -> int:
    """Rows this transaction has read from ``table`` so far: by sequential scans and fetched through indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = %s",
            [table],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def trail():
    with connection.cursor() as cursor:
        cursor.execute(FILL, [TRAIL])
        cursor.execute("ANALYZE audit_event")


def _reading(get) -> tuple[object, int]:
    before = _rows_read("audit_event")
    response = get()
    assert response.status_code == HTTPStatus.OK
    return response, _rows_read("audit_event") - before


@pytest.mark.postgres_only
def test_an_objects_history_in_the_api_reads_its_rows_not_the_trail(api_client, token_for, trail):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    response, read = _reading(lambda: api_client.get(API, {"target": "obj-77"}))
    history = AuditEvent.objects.filter(targets__contains=["obj-77"]).order_by("-id")
    expected = list(history.values_list("id", flat=True))
    assert len(expected) == TRAIL // 5000
    assert [event["id"] for event in response.json()["results"]] == expected
    assert read <= 10 * len(expected), f"read {read} rows of {TRAIL} for {len(expected)}"


@pytest.mark.postgres_only
@pytest.mark.parametrize("term", ["obj-77", "nobody-here"])
def test_the_audit_pages_search_reads_the_rows_it_finds_not_the_trail(admin_client, trail, term):
    admin_client.get(PAGE)  # the session's first view
    # At this test's 20,000 rows a scan (of the table, or of the time index) costs less than three index
    # lookups and the planner rightly takes it; at 2,000,000 it takes the lookups (EXPLAIN ANALYZE, and
    # bench.audit_alerts at 10,000,000). Scans off, the search must still find an index for each of its
    # three alternatives, or it can only read the trail whole.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    response, read = _reading(lambda: admin_client.get(PAGE, {"q": term}))
    found = Q(actor__icontains=term) | Q(token_name__icontains=term) | Q(targets__contains=[term])
    expected = list(AuditEvent.objects.filter(found).order_by("-created_at", "-id").values_list("id", flat=True))
    assert [event.id for event in response.context["cl"].result_list] == expected
    # The count and the page each read the matches (and the page's own few rows of the session's user).
    assert read <= 10 * len(expected) + 10, f"read {read} rows of {TRAIL} for {len(expected)}"
