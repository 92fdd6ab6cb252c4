"""The Audit page: read-only, newest first, filtered by action, way, outcome and date, searched by actor or object,
and as many queries with 100,000 rows as with a few."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor, Outcome, audit_record

PAGE = "/admin/audit/auditevent/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    user = User.objects.create_user("vera", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(user)
    return client


def _rows(response) -> list[str]:
    return [str(event) for event in response.context["cl"].result_list]


def _trail():
    now = timezone.now()
    audit_record(actor=Actor.cli("deploy"), action="jobs.pause", targets=["plannings-backfill"], now=now - timedelta(2))
    audit_record(actor=Actor(name="ana", via="portal"), action="container.restart", outcome=Outcome.FAILED,
                 target_type="container", targets=["wallet-core-web-1"], now=now - timedelta(hours=1))  # fmt: skip
    audit_record(actor=Actor.api(owner_name="ci-bot", token_name="grafana"), action="container.health_check",
                 target_type="container", targets=["wallet-core-worker-1"], detail="x" * 300, now=now)  # fmt: skip


def test_a_viewer_reads_the_trail_newest_first_and_cannot_change_it(viewer):
    _trail()
    response = viewer.get(PAGE)
    assert response.status_code == HTTPStatus.OK
    assert _rows(response) == [
        "container.health_check ok by ci-bot via api", "container.restart failed by ana via portal",
        "jobs.pause ok by deploy via cli",
    ]  # fmt: skip
    body = response.content.decode()
    assert "via api, token grafana" in body
    assert "x" * 60 + "…</span>" in body and f'title="{"x" * 300}"' in body  # long details cut, whole on hover
    assert viewer.get(f"{PAGE}add/").status_code == HTTPStatus.FORBIDDEN
    event = AuditEvent.objects.first()
    assert viewer.post(f"{PAGE}{event.pk}/delete/").status_code == HTTPStatus.FORBIDDEN
    assert viewer.get(f"{PAGE}{event.pk}/change/").status_code == HTTPStatus.OK  # its page, read-only
    assert AuditEvent.objects.count() == 4  # the three, and the refused delete's own row
    assert AuditEvent.objects.filter(action="audit.auditevent.delete", outcome="refused").exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "container."}, ["container.health_check", "container.restart"]),
        ({"action": "jobs.pause"}, ["jobs.pause"]),
        ({"via": "api"}, ["container.health_check"]),
        ({"outcome": "failed"}, ["container.restart"]),
        ({"created_at__gte": (timezone.now() - timedelta(days=1)).isoformat()},
         ["container.health_check", "container.restart"]),
        ({"q": "ci-bot"}, ["container.health_check"]),
        ({"q": "ana"}, ["container.health_check", "container.restart"]),  # ana, and the token grafana
        ({"q": "grafana"}, ["container.health_check"]),
        ({"q": "wallet-core-worker-1"}, ["container.health_check"]),
    ],
)  # fmt: skip
def test_filters_and_search(viewer, query, expected):
    _trail()
    response = viewer.get(PAGE, query)
    assert response.status_code == HTTPStatus.OK
    assert [row.split()[0] for row in _rows(response)] == expected


@pytest.mark.postgres_only
def test_the_page_costs_the_same_queries_at_100000_rows(viewer, django_assert_num_queries):
    def load(query: dict):
        return viewer.get(PAGE, query)

    _trail()
    # The session, the user, their groups' permissions, the filtered count, the page, and one more for the
    # permissions checked by the change list: 6, whatever the trail's size.
    with django_assert_num_queries(6) as few:
        assert load({}).status_code == HTTPStatus.OK
    # Written by the server (bulk_create took 9 s of this machine's time for the same rows).
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO audit_event (created_at, actor, via, token_name, action, target_type, targets, target_count,
                                     outcome, detail, changes, prev_hash, row_hash)
            SELECT now() - i * interval '1 second', 'user' || (i % 50), 'portal', '',
                   (ARRAY['jobs.pause', 'container.restart', 'token.create'])[i % 3 + 1], 'job',
                   jsonb_build_array('t' || i), 1, 'ok', '', '{}'::jsonb, '', ''
            FROM generate_series(1, 100000) AS i
        """)  # fmt: skip
    for query in ({}, {"action": "container.", "outcome": "ok"}, {"q": "user7"}, {"via": "portal", "p": "3"}):
        with django_assert_num_queries(len(few.captured_queries)):
            response = load(query)
        assert response.status_code == HTTPStatus.OK and len(response.context["cl"].result_list) == 100
