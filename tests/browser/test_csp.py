"""Content-Security-Policy: on every response, and no page of the portal breaks it.

The fast tests read the header and the markup through Django's test client. The browser test
visits every page of the portal in Chromium, through the dev server, and listens for the
browser's own reports (``securitypolicyviolation`` events and its "Refused to ..." console
errors): there must be none, and the pages' scripts (panel refresh, log scroll, copy
button, Swagger UI) must still run.
"""

import re

import pytest
from django.contrib.auth.models import User

from scripts.servers.postgres import free_port
from tests.browser.helpers import PASSWORD, RUNNER, WORKER, csp_directives, csp_expected, demo_data, log_in

# --- Fast: the header and the markup, through the test client ---------------------------------------


@pytest.fixture
def systems_down(settings, monkeypatch, tmp_path):
    from opsportal.celery import app

    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/no-docker.sock"], "production": []}
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")


PAGES = [
    "/admin/", "/admin/ops/", "/admin/ops/panels/plannings/", "/admin/ops/panels/hosts/", "/admin/ops/containers/",
    "/admin/ops/jobs/", "/admin/opsapi/apitoken/", "/admin/opsapi/apitoken/add/", "/admin/plannings/planning/",
    "/admin/auth/user/", "/api/docs/", "/api/schema/", "/api/ops/plannings", "/api/v1/admin/ops/containers",
    "/metrics", "/admin/no-such-page/",
]  # fmt: skip


@pytest.mark.django_db
def test_every_response_has_the_policy(client, systems_down):
    responses = {"/admin/login/": client.get("/admin/login/")}
    User.objects.create_superuser("ana", password=PASSWORD)
    client.login(username="ana", password=PASSWORD)
    responses |= {path: client.get(path) for path in PAGES}
    assert responses["/admin/login/"].status_code == 200 and responses["/admin/no-such-page/"].status_code == 404
    assert responses["/api/v1/admin/ops/containers"].status_code == 401
    for path, response in responses.items():
        header = response.get("Content-Security-Policy")
        assert header, f"{path}: no Content-Security-Policy"
        nonce = re.search(r"'nonce-([^']+)'", header)
        assert csp_directives(header) == csp_expected(nonce and nonce[1]), path
        if nonce:  # the nonce is the one the page's inline code carries, fresh for each response
            assert f'nonce="{nonce[1]}"' in response.content.decode(), path
    dashboard = responses["/admin/ops/"]["Content-Security-Policy"]
    assert dashboard != client.get("/admin/ops/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_no_page_has_inline_code_without_the_nonce(admin_client, systems_down):
    for path in PAGES:
        html = admin_client.get(path).content.decode()
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
            assert re.search(r'\b(src|nonce)="[^"]+"', tag), f"{path}: {tag}"
        assert not re.search(r"<[^>]+\sstyle=", html), f"{path}: a style attribute"
        assert not re.search(r"<[^>]+\son[a-z]+=", html), f"{path}: an event-handler attribute"


def test_the_hosts_panel_draws_its_bars_without_style_attributes():
    from django.template.loader import render_to_string

    data = {"hosts": [{"name": "web-1", "instance": "10.0.0.1:9100", "alert": True, "bars": [(91.5, 85), (40.0, 85)]}],
            "thresholds_pct": {"cpu": 85, "mem": 85}, "updated_at": "now"}  # fmt: skip
    html = render_to_string("opsportal/panels/hosts.html", {"data": data})
    assert "style=" not in html
    assert '<rect class="ops-bar-fill ops-alert" width="91.5" height="12"/>' in html
    assert '<rect class="ops-bar-fill" width="40.0" height="12"/>' in html
    assert html.count('<line class="ops-bar-threshold" x1="85" x2="85"') == 2


# --- Chromium: every page, no violation ----------------------------------------------------------------

# Installed before any page script: every violation the browser reports is kept on the window.
LISTENER = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline")
                            + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture
def csp_page(browser, live_portal):
    portal = live_portal(deploy_info={
        "current_tag": "v2026.11.23-1", "previous_tag": "v2026.11.20-3", "commit_sha": "4f1c2e9a7b3d",
        "deployed_by": "ana", "deployed_at": "2026-11-23T09:12:00Z",
    })  # fmt: skip
    context = browser.new_context(base_url=portal.url, viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.url)
    context.add_init_script(LISTENER)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.console_refusals = []

    def console(message) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            page.console_refusals.append(message.text)

    page.on("console", console)
    yield page
    context.close()


def _violations(page) -> list[str]:
    return page.evaluate("window.cspViolations") + page.console_refusals


@pytest.mark.postgres_only
def test_every_page_runs_under_the_policy_in_chromium(csp_page, screenshots):
    from django.utils import timezone

    page = csp_page
    demo_data(timezone.now())
    seen = {}

    def visited(name: str) -> None:
        assert page.evaluate("Array.isArray(window.cspViolations)"), f"{name}: the listener is missing"
        header = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
        assert header and "default-src 'self'" in header, name
        seen[name] = _violations(page)
        page.console_refusals.clear()

    page.goto("/admin/login/")
    visited("login")
    log_in(page)
    visited("admin index")

    # The dashboard: the panels' script refreshes them in place, every 2 s here.
    page.goto("/admin/ops/?every=2")
    page.wait_for_selector("#panel-hosts .ops-bar")  # bars drawn as SVG geometry, no style attributes
    page.wait_for_selector("#ops-refreshed:text('Last refreshed')", timeout=15_000)
    assert page.locator("#panel-history svg rect[data-status]").count() >= 1
    bar = page.locator("#panel-hosts svg.ops-bar").first.bounding_box()
    assert bar["width"] >= 120 and 10 <= bar["height"] <= 14  # the stylesheet (nonce) applies
    visited("dashboard")

    page.goto("/admin/ops/containers/")
    page.click(f"#containers a:text-is('{RUNNER}')")
    page.wait_for_selector("a:text-is('Logs')")
    visited("container")
    page.click("a:text-is('Logs')")
    page.fill("#id_tail", "200")
    page.click("#logs-form input[type=submit]")
    page.wait_for_selector("#logs")
    # The inline script scrolled the logs to the newest line.
    assert page.evaluate("(l => l.scrollHeight <= l.clientHeight || l.scrollTop > 0)(document.getElementById('logs'))")
    visited("logs")

    page.goto("/admin/ops/containers/")
    page.click(f"#containers a:text-is('{WORKER}')")
    page.click("a:text-is('Restart…')")
    page.wait_for_selector("#restart-form")
    visited("restart confirmation")

    page.goto("/admin/ops/jobs/")
    page.wait_for_selector("#jobs-switch")
    visited("jobs")
    page.click("a:text-is('Pause jobs…')")
    page.wait_for_selector("input[value='Yes, pause']")
    visited("jobs confirmation")

    page.goto("/admin/opsapi/apitoken/add/")
    visited("token add")
    page.fill("#id_name", "grafana")
    page.check("input[name=scope_choices][value=read]")
    page.click("input[name=_save]")
    secret = page.input_value("#token-secret")
    page.click("#token-copy")
    page.wait_for_selector("#token-copied:text('Copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    visited("token shown")

    page.goto("/admin/plannings/planning/")
    page.wait_for_selector("#result_list")
    visited("plannings")
    page.click("#result_list tbody tr:first-child th a")
    page.wait_for_selector("#content-main form")
    visited("a planning")

    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)  # Swagger UI ran and read the schema
    assert "opsportal API" in page.inner_text(".swagger-ui .info")
    visited("API docs")

    # The listener is not blind: a style attribute added now is reported.
    page.goto("/admin/ops/jobs/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\" style=\"color: red\">x</p>')")
    page.wait_for_function("window.cspViolations.length > 0")
    assert "style-src" in page.evaluate("window.cspViolations")[0]

    assert {name: found for name, found in seen.items() if found} == {}
    assert len(seen) == 13


def test_the_swagger_ui_template_is_drf_spectacular_s_own_plus_the_nonces():
    # templates/drf_spectacular/swagger_ui.html overrides the package's: after an upgrade, copy it again.
    from pathlib import Path

    import drf_spectacular

    own = (Path(drf_spectacular.__file__).parent / "templates/drf_spectacular/swagger_ui.html").read_text()
    ours = (Path(__file__).resolve().parents[2] / "templates/drf_spectacular/swagger_ui.html").read_text()
    ours = re.sub(r"(?s)^\{% comment %\}.*?\{% endcomment %\}", "", ours)
    assert ours.count(' nonce="{{ request.csp_nonce }}"') == 2
    assert ours.replace(' nonce="{{ request.csp_nonce }}"', "") == own
