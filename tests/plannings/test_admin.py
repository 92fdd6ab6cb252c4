"""The mirrored tables in the admin: searchable, filterable, and read-only."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    now = timezone.now()
    enscr = factories.planning_make("enscr.cycle.groupe-a", title="Groupe A")
    istic = factories.planning_make("istic.m1.info", title="Master Info")
    factories.backup_make(enscr)
    factories.queue_item_make(istic, locked_at=now, lock_owner="w1")
    factories.disabled_state_make(istic, until=now + timedelta(days=1), kind="http_404")
    factories.state_make(enscr)
    return enscr, istic


def _rows(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == HTTPStatus.OK
    return [str(obj.pk) for obj in response.context["cl"].result_list]


def test_plannings_are_searchable_by_full_id_and_title(admin_client, world):
    assert _rows(admin_client, "/admin/plannings/planning/?q=istic.m1") == ["istic.m1.info"]
    assert _rows(admin_client, "/admin/plannings/planning/?q=Groupe") == ["enscr.cycle.groupe-a"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("host=istic", ["istic.m1.info"]),
        ("has_backup=yes", ["enscr.cycle.groupe-a"]),
        ("has_backup=no", ["istic.m1.info"]),
        ("disabled=yes", ["istic.m1.info"]),
        ("disabled=no", ["enscr.cycle.groupe-a"]),
    ],
)
def test_plannings_filter_by_host_backup_and_disabled(admin_client, world, query, expected):
    assert _rows(admin_client, f"/admin/plannings/planning/?{query}") == expected


def test_queue_filters_by_state(admin_client, world):
    assert _rows(admin_client, "/admin/plannings/planningrefreshqueue/?queue_state=locked") == ["istic.m1.info"]
    assert _rows(admin_client, "/admin/plannings/planningrefreshqueue/?queue_state=ready") == []


def test_states_filter_by_disabled_and_host(admin_client, world):
    url = "/admin/plannings/planningrefreshstate/"
    assert _rows(admin_client, f"{url}?disabled=yes") == ["istic.m1.info"]
    assert _rows(admin_client, f"{url}?host=enscr") == ["enscr.cycle.groupe-a"]
    assert _rows(admin_client, f"{url}?q=Master") == ["istic.m1.info"]


def test_backups_are_listed_and_searchable(admin_client, world):
    assert _rows(admin_client, "/admin/plannings/planningbackup/?q=groupe-a") == ["enscr.cycle.groupe-a"]


@pytest.mark.parametrize("model", ["planning", "planningbackup", "planningrefreshqueue", "planningrefreshstate"])
def test_mirrored_tables_are_read_only(admin_client, world, model):
    assert admin_client.get(f"/admin/plannings/{model}/add/").status_code == HTTPStatus.FORBIDDEN
    page = admin_client.get(f"/admin/plannings/{model}/")
    assert page.context["has_add_permission"] is False
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)
    response = admin_client.post(
        f"/admin/plannings/{model}/",
        {"action": "delete_selected", "_selected_action": ["istic.m1.info"], "post": "yes"},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN  # an action not offered: refused, and recorded
    from opsportal.audit.models import AuditEvent
    from plannings.models import Planning

    assert Planning.objects.filter(pk="istic.m1.info").exists()
    assert AuditEvent.objects.get(outcome="refused").action == f"plannings.{model}.delete"


def test_anonymous_users_get_the_login_page(client):
    response = client.get("/admin/plannings/planning/")
    assert response.status_code == HTTPStatus.FOUND
    assert "/admin/login/" in response["Location"]
