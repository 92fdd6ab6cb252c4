"""Helpers shared by the browser tests: the demo world, logging in, the pages to visit, measuring a page."""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders

from plannings.models import HealthSnapshot
from tests import factories

RUNNER = "wallet-core-staging-runner-abc1234"
WORKER = "wallet-core-production-worker-def5678"
PASSWORD = "a-long-enough-password"


def demo_data(now):
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


def log_in(page):
    page.goto("/admin/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


def ops_pages(page) -> list[str]:
    """Every page the admin index links (Operations first, then every change list), and the pages below them."""
    page.goto("/admin/")
    links = page.eval_on_selector_all("#content-main .module th a", "links => links.map(a => a.getAttribute('href'))")
    pages = ["/admin/", *dict.fromkeys(links)]
    pages += [
        f"/admin/ops/containers/{RUNNER}/?env=staging",
        f"/admin/ops/containers/{RUNNER}/logs/?env=staging&tail=200",
        "/admin/ops/readme/",
        "/admin/ops/docs/configuration/",
        "/admin/ops/?range=7d",
    ]
    return pages


ORIGIN = "http://portal.test"


def page_show(browser, html: str, *, width: int, path: str = "/admin/ops/jobs/"):
    """A Chromium page showing ``html`` as ``path`` at this width, its stylesheets and scripts served for real."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    static = "/" + settings.STATIC_URL.lstrip("/")

    def serve(route):
        url_path = urlsplit(route.request.url).path
        if url_path == path:
            return route.fulfill(body=html, content_type="text/html; charset=utf-8")
        found = finders.find(url_path[len(static) :]) if url_path.startswith(static) else None
        return route.fulfill(path=found) if found else route.fulfill(status=404, body="")

    page.route("**/*", serve)
    page.goto(ORIGIN + path)
    return context, page


def jobs_page_measure(page) -> dict:
    return page.evaluate("""() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        switch: document.querySelector('#jobs-switch')?.innerText,
        rows: [...document.querySelectorAll('tr[data-job]')].map(row => row.innerText),
        heights: [...document.querySelectorAll('.ops-button')].map(b => Math.round(b.getBoundingClientRect().height)),
        fonts: [...document.querySelectorAll('.ops-button')].map(b => getComputedStyle(b).fontSize),
    })""")


POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def csp_directives(header: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def csp_expected(nonce: str | None) -> dict[str, str]:
    expected = csp_directives(POLICY.format(nonce=nonce or ""))
    if nonce is None:  # no inline code on the page: no nonce in the policy
        for name in ("script-src", "style-src"):
            expected[name] = "'self'"
    return expected
