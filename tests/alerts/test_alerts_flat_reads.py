"""The Alerts page and the deploy timeline's alerts cost the same at any size of the history (issue #23: a
million closed alerts).

The page counts its matches only up to a cap, with the same statements at two sizes, its rows and pages those
of a direct query in the list's order. On PostgreSQL the timeline reads a page's worth of alerts through the
fired_at and resolved_at indexes, a LIMITed chunk at a time, on its first page and deep in (rows read: this
transaction's ``pg_stat_xact_user_tables``), and its pages give every alert's firing and end once, in order.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.alerts.models import LIST_ORDER, Alert, Rule
from tests.capped_lists import page_and_statements
from walletops.deploys import timeline

PAGE = "/admin/alerts/alert/"
pytestmark = pytest.mark.django_db


def _history(count: int, *, offset: int = 0) -> None:
    # Three episodes a minute (ties on started_at), older as i grows; a few still open.
    rule = Rule.objects.get(kind=Rule.Kind.CONTAINER)
    now = timezone.now()
    rows = []
    for i in range(offset, offset + count):
        started = now - timedelta(minutes=i // 3)
        state = ("alerting", "pending") if i < 4 else ("resolved", "resolved", "ok", "gone")
        state = state[i % len(state)]
        closed = state not in ("alerting", "pending")
        rows.append(Alert(rule=rule, target=f"t{i}", state=state, is_open=not closed, started_at=started,
                          fired_at=started if state in ("alerting", "resolved") else None,
                          resolved_at=started + timedelta(minutes=5) if closed else None, flapping=i % 2 == 0,
                          acknowledged_at=started if i % 3 == 0 else None))  # fmt: skip
    Alert.objects.bulk_create(rows)


QUERIES = {
    "bare": ({}, Q()),
    "closed": ({"is_open__exact": "0"}, Q(is_open=False)),
    "resolved": ({"state__exact": "resolved"}, Q(state="resolved")),
    "flapping": ({"flapping__exact": "1"}, Q(flapping=True)),
    "acknowledged": ({"acknowledged_at__isempty": "0"}, Q(acknowledged_at__isnull=False)),
}


def _page(admin_client, query: dict):
    return page_and_statements(admin_client, PAGE, query)


@pytest.mark.parametrize("name", list(QUERIES))
def test_the_alerts_page_counts_up_to_the_cap_with_the_same_statements_at_two_sizes(admin_client, cap_of_120, name):
    query, rows = QUERIES[name]
    _history(400)
    admin_client.get(PAGE)  # the session's first view
    _, small = _page(admin_client, query)
    _history(400, offset=400)
    response, large = _page(admin_client, query)
    assert len(large) == len(small)
    counts = [sql for sql in large if sql.startswith("SELECT COUNT(*)")]
    assert len(counts) == 1 and counts[0].endswith("LIMIT 121) subquery"), counts
    assert "more than 120 alerts" in response.content.decode()
    expected = list(Alert.objects.filter(rows).order_by(*LIST_ORDER, "-pk").values_list("id", flat=True))
    assert len(expected) > 121
    # Two pages (the count stops at 121): the first 121 rows of a direct query in the list's order.
    first = [alert.id for alert in response.context["cl"].result_list]
    second, _ = _page(admin_client, {**query, "p": "2"})
    assert first + [alert.id for alert in second.context["cl"].result_list] == expected[:121]


# --- PostgreSQL: the deploy timeline reads a page of alerts ---------------------------------------------------

HISTORY = 20_000
FILL = """
    INSERT INTO alerts_alert (rule_id, target, state, is_open, message, started_at, fired_at, last_evaluated_at,
                              resolved_at, flapping, held, acknowledged_at, acknowledged_by, ack_comment, track)
    SELECT %s, 'target-' || (g %% 50), CASE WHEN g %% 5 = 0 THEN 'ok' ELSE 'resolved' END, false, '', t,
           CASE WHEN g %% 5 = 0 THEN NULL ELSE t + interval '1 minute' END, t, t + interval '5 minutes',
           false, false, NULL, '', '', '{}'::jsonb
    FROM generate_series(1, %s) AS g, LATERAL (SELECT now() - (g / 3) * interval '1 minute' AS t) AS at
"""
FILTERS = timeline.Filters(service="wallet-core", destination="production")
PAGE_SIZE = 50


def _rows_read() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = 'alerts_alert'"
        )
        return cursor.fetchone()[0]


def _expected() -> list[tuple]:
    """Every alert's firing and end as the timeline orders them: newest first, an end above a firing at one
    instant, then the higher id first (a direct read of the table, by the rules of ``deploy_timeline``)."""
    fired = [(a.fired_at, -2, a.id, "alert.fired") for a in Alert.objects.filter(fired_at__isnull=False)]
    ended = [(a.resolved_at, -1, a.id, f"alert.{a.state}")
             for a in Alert.objects.filter(fired_at__isnull=False, resolved_at__isnull=False)]  # fmt: skip
    return sorted(fired + ended, reverse=True)


@pytest.mark.postgres_only
def test_the_timeline_reads_a_page_of_alerts_first_and_deep_and_walks_them_in_order_once():
    rule = Rule.objects.get(kind=Rule.Kind.CONTAINER)
    with connection.cursor() as cursor:
        cursor.execute(FILL, [rule.id, HISTORY])
        cursor.execute("ANALYZE alerts_alert")
    expected = _expected()
    walked, cursor, reads = [], None, []
    for _ in range(30):
        before = _rows_read()
        with CaptureQueriesContext(connection) as queries:
            entries, following = timeline.timeline_page(FILTERS, cursor=cursor, limit=PAGE_SIZE)
        reads.append(_rows_read() - before)
        statements = [q["sql"] for q in queries.captured_queries if '"alerts_alert"' in q["sql"]]
        assert len(statements) == 2 and all(" LIMIT " in sql for sql in statements), statements
        walked += [(e["at"], -2 if e["kind"] == "alert.fired" else -1, e["id"], e["kind"]) for e in entries]
        cursor = timeline.Cursor.decode(following)
    # 30 pages: the first 1,500 entries of a direct read, none skipped, none repeated.
    assert walked == expected[: 30 * PAGE_SIZE]
    # Each page, the first as the 30th, reads about a chunk of each source (51 rows, and the alerts that
    # never fired, which the resolved_at index holds too): not the 20,000 alerts.
    assert max(reads) <= 4 * (PAGE_SIZE + 1) * 2, reads
