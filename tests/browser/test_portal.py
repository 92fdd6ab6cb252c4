"""An operator's session in Chromium: log in, read the dashboard, open logs, restart a container, pause jobs.

The dev server runs as its own process on the test's PostgreSQL database, with the
wallet ops tests' two private Docker engines and a private Prometheus behind it.
Screenshots of the main pages land in ``OPSPORTAL_SCREENSHOTS`` (``make screenshots``).
"""

import re

import pytest
from django.utils import timezone

from opsportal.api.models import ApiToken
from plannings import health, runtime
from tests.browser.helpers import RUNNER, WORKER, demo_data, log_in
from walletops.models import RestartAudit

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def page(browser, portal):
    context = browser.new_context(base_url=portal.url, viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_an_operator_session(page, portal, screenshots):
    now = timezone.now()
    demo_data(now)
    expected_status = health.health_report(now=now).status
    log_in(page)

    # The dashboard, reached from the admin index's Operations section.
    page.click(".app-operations a:text-is('Dashboard')")
    badge = page.locator("#panel-plannings [data-status]")
    assert badge.get_attribute("data-status") == expected_status == "degraded"
    assert "High disabled: 5/40 (13%)" in page.inner_text("#panel-plannings")
    assert page.locator("#panel-history svg rect[data-status=degraded]").count() >= 1
    page.wait_for_selector("#panel-hosts .ops-bar")  # Prometheus may need a scrape or two first
    assert "v2026.11.23-1" in page.inner_text("#panel-deploy")
    assert re.search(r"staging\s+5\s+", page.inner_text("#panel-containers"))
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)

    # The dashboard refreshes its panels in place: no navigation, new figures.
    page.goto("/admin/ops/?every=2")
    page.evaluate("window.stillHere = true")
    runtime.jobs_pause(by="someone-else", now=timezone.now())
    page.wait_for_selector("#panel-plannings :text('Jobs paused')", timeout=15_000)
    assert page.evaluate("window.stillHere") is True
    runtime.jobs_resume(by="someone-else", now=timezone.now())

    # A container's logs.
    page.click("#nav-sidebar a:text-is('Containers')")
    page.wait_for_selector("#containers")
    page.screenshot(path=screenshots / "containers.png", full_page=True)
    page.click(f"#containers a:text-is('{RUNNER}')")
    page.click("a:text-is('Logs')")
    page.fill("#id_tail", "5")
    page.fill("#id_grep", "tick")
    page.click("#logs-form input[type=submit]")
    lines = page.inner_text("#logs").strip().splitlines()
    assert len(lines) == 5 and all("tick" in line for line in lines)
    page.screenshot(path=screenshots / "logs.png", full_page=True)

    # A restart, confirmed by typing the name, then its audit row.
    page.goto("/admin/ops/containers/")
    page.click(f"#containers a:text-is('{WORKER}')")
    page.click("a:text-is('Restart…')")
    page.fill("#id_confirm_name", WORKER)
    page.fill("#id_timeout", "1")
    page.screenshot(path=screenshots / "restart-confirm.png", full_page=True)
    page.click("#restart-form input[type=submit]")
    page.wait_for_selector(f".messagelist :text('{WORKER} restarted')")
    audit_row = page.inner_text("#restart-audit tbody tr:first-child")
    assert "restarted" in audit_row and "ana" in audit_row
    assert RestartAudit.objects.get().outcome == "restarted"
    page.screenshot(path=screenshots / "container.png", full_page=True)

    # Pause and resume the jobs, each confirmed.
    page.click("#nav-sidebar a:text-is('Jobs')")
    page.click("a:text-is('Pause jobs…')")
    page.click("input[value='Yes, pause']")
    assert "paused" in page.inner_text("#jobs-switch") and runtime.jobs_paused()
    page.screenshot(path=screenshots / "jobs.png", full_page=True)
    page.click("a:text-is('Resume jobs…')")
    page.click("input[value='Yes, resume']")
    assert "running" in page.inner_text("#jobs-switch") and not runtime.jobs_paused()


def test_a_token_is_shown_once_and_copied(page, portal, screenshots):
    demo_data(timezone.now())
    log_in(page)
    page.goto("/admin/opsapi/apitoken/add/")
    page.fill("#id_name", "grafana")
    page.check("input[name=scope_choices][value=read]")
    page.click("input[name=_save]")
    secret = page.input_value("#token-secret")
    assert secret.startswith("wo_")
    # The defect seen: "Token grafana (prefix , scopes )". The page names both, as the secret begins.
    prefix = ApiToken.objects.get(name="grafana").prefix
    assert prefix and secret.startswith(f"wo_{prefix}_")
    assert f"prefix {prefix}, scopes read" in page.inner_text("#content")
    page.click("#token-copy")
    page.wait_for_selector("#token-copied:text('Copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.screenshot(path=screenshots / "token.png", full_page=True)
    page.goto("/admin/plannings/planning/")
    page.screenshot(path=screenshots / "plannings.png", full_page=True)
