"""The operations dashboard: who may see it, what each panel shows, and panels failing one at a time."""

import json
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.portal import dashboard
from tests import factories
from tests.opsportal.helpers import DASHBOARD, panel_html

pytestmark = pytest.mark.django_db


def test_anonymous_and_non_staff_users_get_the_login_page(client):
    assert client.get(DASHBOARD)["Location"].startswith("/admin/login/")
    User.objects.create_user("visitor", password="pw")
    client.login(username="visitor", password="pw")
    assert client.get(DASHBOARD)["Location"].startswith("/admin/login/")
    assert client.get("/admin/ops/panels/plannings/")["Location"].startswith("/admin/login/")


def test_the_dashboard_is_linked_from_the_admin_index_and_nav(admin_client):
    index = admin_client.get("/admin/").content.decode()
    for url in (DASHBOARD, "/admin/ops/containers/", "/admin/ops/jobs/"):
        assert f'href="{url}"' in index
    assert 'href="/admin/ops/"' in admin_client.get("/admin/plannings/planning/").content.decode()  # the nav sidebar


def test_the_plannings_panel_shows_health_and_links_failures_to_their_rows(admin_client, outages):
    now = timezone.now()
    factories.both_jobs_running()
    for planning in factories.plannings_make(4, school="iut"):
        factories.backup_make(planning)
    broken = factories.planning_make("enscr.g1.a")
    factories.disabled_state_make(broken, until=now + timedelta(hours=1), kind="http_404", consecutive_failures=3,
                                  last_attempt_at=now)  # fmt: skip
    factories.queue_item_make(broken)
    body = admin_client.get(DASHBOARD).content.decode()
    plannings = panel_html(body, "plannings")
    # 1 of 5 disabled is 20 %: "High disabled" degrades the status.
    assert 'data-status="degraded"' in plannings and "High disabled: 1/5 (20%)" in plannings
    assert "<strong>4 / 5</strong>backed up (80.0 %)" in plannings
    assert 'href="/admin/plannings/planning/enscr.g1.a/change/"' in plannings  # its page: history, Re-enable
    assert 'href="/admin/plannings/planningrefreshstate/?host=enscr&amp;disabled=yes"' in plannings
    assert "plannings-backfill" in plannings and "ops-badge-idle" in plannings


def test_the_disabled_tables_name_failures_as_every_page_does_never_by_their_stored_token(admin_client, outages):
    now = timezone.now()
    factories.both_jobs_running()
    for index, planning in enumerate(factories.plannings_make(3, school="iut")):
        kind = ["http_4xx", "parse_error", "connection_refused"][index]
        factories.disabled_state_make(planning, until=now + timedelta(hours=1), kind=kind, last_error="http_404",
                                      consecutive_failures=3, last_attempt_at=now)  # fmt: skip
    plannings = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    disabled = plannings.split("<h3>Disabled hosts</h3>")[1].split("</table>")[0]
    recent = plannings.split("<h3>Recently disabled</h3>")[1].split("</table>")[0]
    assert re.findall(r"<td>(HTTP 4xx|parse error|connection refused)</td>", recent) == [
        "connection refused", "parse error", "HTTP 4xx"]  # fmt: skip
    assert re.search(r"<td>3</td><td>(HTTP 4xx|parse error|connection refused)</td>", disabled)
    text = re.sub(r"<[^>]+>", " ", plannings)  # what a reader sees (links keep the token in their query)
    assert "http_4xx" not in text and "parse_error" not in text and "connection_refused" not in text


def test_the_plannings_panel_writes_times_and_figures_as_the_health_api_does(admin_client, outages):
    from tests.plannings.helpers import GOLDEN_NOW, full_world

    with time_machine.travel(GOLDEN_NOW, tick=False):
        full_world()
        plannings = panel_html(admin_client.get(DASHBOARD).content.decode(), "plannings")
    assert "<strong>4 / 7</strong>backed up (57.1 %)" in plannings
    assert "<strong>yes</strong>quiet hours" in plannings
    assert 'href="/admin/plannings/planningbackup/enscr.p0/change/">enscr.p0</a>' in plannings
    # The portal's one date format: relative, the exact UTC time on hover (opsportal.lib.timefmt).
    assert (
        '0 events, unchanged, <time datetime="2026-03-10T19:59:58Z" title="2026-03-10 19:59:58 UTC">just now</time>'
    ) in plannings
    assert "enscr</a></td>\n  <td>1</td><td>HTTP 404</td></tr>" in plannings  # disabled hosts
    assert "insa</a></td>\n  <td>1</td><td>-</td></tr>" in plannings
    assert (
        '<td>HTTP 404</td><td>3</td><td><time datetime="2026-03-10T22:00:00Z" '
        'title="2026-03-10 22:00:00 UTC">in 2 h</time></td>' in plannings
    )
    assert (
        '<td>-</td><td>7</td><td><time datetime="2026-03-11T20:00:00Z" '
        'title="2026-03-11 20:00:00 UTC">in 24 h</time></td>' in plannings
    )


def test_each_panel_fails_alone_with_a_clear_message(admin_client, outages):
    factories.both_jobs_running()
    response = admin_client.get(DASHBOARD)
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert 'data-status="healthy"' in panel_html(body, "plannings")
    assert 'role="alert"' not in panel_html(body, "plannings")
    assert "docker_unavailable: no Docker engine answered" in panel_html(body, "containers")
    assert "prometheus_unavailable: Prometheus unreachable" in panel_html(body, "hosts")
    assert "Partial: broker, accounting could not be read" in panel_html(body, "queues")
    assert "plannings_refresh" in panel_html(body, "queues")  # the database-backed depth is still there
    assert "deploy_info_missing: deploy_info.json not found" in panel_html(body, "deploy")


def test_a_panel_that_breaks_shows_an_error_without_a_traceback(admin_client, outages, monkeypatch, caplog):
    def broken():
        raise KeyError("secret internals")

    monkeypatch.setitem(dashboard.BUILDERS, "deploy", broken)  # stands in for a bug: no real server shows one
    body = admin_client.get(DASHBOARD).content.decode()
    assert "internal_error: this panel failed" in panel_html(body, "deploy")
    assert "secret internals" not in body and "Traceback" not in body
    assert "secret internals" in caplog.text  # the operator's log has it
    assert 'data-status="' in panel_html(body, "plannings")


def test_a_database_outage_costs_the_database_panels_only(admin_client, outages, monkeypatch):
    from django.db import OperationalError

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    # A database that goes away mid-page cannot be arranged without losing the test's own session.
    monkeypatch.setattr(dashboard.health, "health_report", database_down)
    body = admin_client.get(DASHBOARD).content.decode()
    assert "database_unavailable" in panel_html(body, "plannings")
    assert "connection refused" not in body
    assert "deploy_info_missing" in panel_html(body, "deploy")


def test_the_history_panel_draws_the_recorded_snapshots(admin_client, outages):
    from plannings.history import health_snapshot_record

    factories.both_jobs_running()
    now = timezone.now()
    for minutes_ago in range(30, 0, -1):
        assert health_snapshot_record(now=now - timedelta(minutes=minutes_ago))
    history = panel_html(admin_client.get(DASHBOARD).content.decode(), "history")
    assert "<svg" in history and 'data-status="healthy"' in history and "No history yet" not in history


def test_the_history_panel_says_when_there_is_none_yet(admin_client, outages):
    history = panel_html(admin_client.get(DASHBOARD).content.decode(), "history")
    assert "<svg" in history and "No history yet" in history


def test_deploy_info_is_shown(admin_client, outages, settings):
    settings.WALLETOPS_DEPLOY_INFO_PATH.write_text(json.dumps({
        "current_tag": "v42", "previous_tag": "v41", "commit_sha": "0123456789abcdef", "deployed_by": "ana",
        "deployed_at": "2026-11-23T08:00:00Z",
    }))  # fmt: skip
    deploy = panel_html(admin_client.get(DASHBOARD).content.decode(), "deploy")
    assert "v42" in deploy and "v41" in deploy and "ana" in deploy and 'role="alert"' not in deploy


@pytest.mark.parametrize("name", dashboard.PANELS)
def test_each_panel_is_served_alone_for_the_polling_script(admin_client, outages, name):
    response = admin_client.get(f"/admin/ops/panels/{name}/")
    assert response.status_code == HTTPStatus.OK
    assert b"<html" not in response.content  # a fragment, not a page
    assert f"<h2>{name.capitalize()}".encode() in response.content or name == "plannings"


def test_an_unknown_panel_is_404(admin_client):
    assert admin_client.get("/admin/ops/panels/nope/").status_code == HTTPStatus.NOT_FOUND


def test_the_page_polls_each_panel(admin_client, outages):
    body = admin_client.get(DASHBOARD).content.decode()
    for name in dashboard.PANELS:
        assert f'data-url="/admin/ops/panels/{name}/"' in body
    assert "setInterval" in body and "const every = 15 * 1000;" in body


@pytest.mark.parametrize(("every", "seconds"), [("5", 5), ("1", 15), ("abc", 15), ("-3", 15), ("99999", 15)])
def test_the_refresh_period_can_be_chosen_within_bounds(admin_client, outages, every, seconds):
    body = admin_client.get(DASHBOARD, {"every": every}).content.decode()
    assert f"const every = {seconds} * 1000;" in body and f"refresh every {seconds} s" in body


def test_the_dashboard_runs_a_fixed_number_of_queries(admin_client, outages):
    factories.both_jobs_running()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(DASHBOARD).status_code == HTTPStatus.OK
        return len(captured)

    few = queries()
    now = timezone.now()
    for index, planning in enumerate(factories.plannings_make(60, school=f"s{0}")):
        if index % 3 == 0:
            factories.disabled_state_make(planning, until=now + timedelta(hours=1), consecutive_failures=2)
        factories.queue_item_make(planning)
    assert queries() == few


def test_the_plannings_panel_reads_no_more_than_the_health_endpoint(admin_client):
    factories.both_jobs_running()
    admin_client.get("/admin/ops/panels/plannings/")  # warm the session

    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get("/admin/ops/panels/plannings/").status_code == HTTPStatus.OK
    # The session and its user, then health's five statements (the job rows it shows are the same ones),
    # then the two grouped reads of the failures the API's rule leaves out (failing feeds per host, per kind),
    # then the portal's verdict (the evaluator's last pass, the plannings rules' open alerts).
    assert len(captured) == 2 + 5 + 2 + 2, [query["sql"][:80] for query in captured]


def test_the_queues_panel_says_rates_are_not_counted_without_accounting(admin_client, outages, settings):
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = ""  # make run's embedded mode
    panel = panel_html(admin_client.get(DASHBOARD).content.decode(), "queues")
    assert "Rates are not counted" in panel and "OPSPORTAL_ACCOUNTING_REDIS_URL" in panel
    assert "Partial: broker could not be read" in panel  # the broker is still down in this world; accounting is not
    assert "0.00" not in panel  # no measured-looking zeros
