"""An operator's session in Chromium: log in, read the dashboard, open logs, restart a container, pause jobs.

The dev server runs as its own process on the test's PostgreSQL database, with the
wallet ops tests' two private Docker engines and a private Prometheus behind it.
Screenshots of the main pages land in ``OPSPORTAL_SCREENSHOTS`` (``make screenshots``).
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.utils import timezone

from opsportal.api.models import ApiToken
from opsportal.audit.models import AuditEvent
from plannings import health, runtime
from plannings.models import HealthSnapshot
from tests import factories

pytestmark = pytest.mark.postgres_only
RUNNER = "wallet-core-staging-runner-abc1234"
WORKER = "wallet-core-production-worker-def5678"
PASSWORD = "a-long-enough-password"


def _demo_data(now):
    # Hashed the way the dev server checks it (the tests' own settings use a fast MD5 hasher it does not know).
    hasher = PBKDF2PasswordHasher()
    User.objects.create(username="ana", is_staff=True, is_superuser=True,
                        password=hasher.encode(PASSWORD, hasher.salt(), iterations=1000))  # fmt: skip
    factories.both_jobs_running()
    plannings = factories.plannings_make(40, school="iut-nantes")
    for planning in plannings[:30]:
        factories.backup_make(planning, events=[{"summary": "Algo", "start": "2026-11-23T08:00:00Z"}])
    for planning in plannings[30:35]:
        factories.disabled_state_make(planning, until=now + timedelta(hours=2), kind="http_404",
                                      consecutive_failures=4, last_attempt_at=now)  # fmt: skip
    for planning in plannings[35:]:
        factories.queue_item_make(planning)
    # A day of history: covered climbing, a degraded morning and a short outage of the recorder (a gap).
    start = now.replace(second=0, microsecond=0) - timedelta(hours=24)
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(
            taken_at=start + timedelta(minutes=minute), status="degraded" if 300 <= minute < 420 else "healthy",
            queue_depth=(minute * 7) % 40, queue_ready=0, queue_locked=0, total=40, covered=min(30, minute // 40),
            disabled=5 if 300 <= minute < 420 else 1,
        )
        for minute in range(24 * 60)
        if not 900 <= minute < 960
    )  # fmt: skip


@pytest.fixture
def portal(live_portal):
    return live_portal(deploy_info={
        "current_tag": "v2026.11.23-1", "previous_tag": "v2026.11.20-3", "commit_sha": "4f1c2e9a7b3d",
        "deployed_by": "ana", "deployed_at": "2026-11-23T09:12:00Z",
    })  # fmt: skip


@pytest.fixture
def page(browser, portal):
    context = browser.new_context(base_url=portal.url, viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _log_in(page):
    page.goto("/admin/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


def test_an_operator_session(page, portal, screenshots):
    now = timezone.now()
    _demo_data(now)
    expected_status = health.health_report(now=now).status
    _log_in(page)

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
    assert AuditEvent.objects.get(action="container.restart").outcome == "ok"
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
    _demo_data(timezone.now())
    _log_in(page)
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
