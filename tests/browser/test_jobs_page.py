"""The Jobs page in Chromium after Pause and after Resume, at 1280 and 390 px: what it says, and that it fits.

Cheap on purpose: no dev server. The page is rendered by Django's test client and handed to
Chromium with the admin's real static files (served from the staticfiles finders), so the
layout measured is the one users get, without starting a server process.
"""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.contrib.staticfiles import finders

from plannings import jobs
from tests import factories

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]
ORIGIN = "http://portal.test"
WIDTHS = (1280, 390)
SHOTS = {("after_one_loop", 1280): "jobs-pausing.png"}


@pytest.fixture
def operator(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="control_jobs"))
    client.force_login(user)
    return client


def _show(browser, html: str, *, width: int, path: str = "/admin/ops/jobs/"):
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


def _measure(page) -> dict:
    return page.evaluate("""() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        switch: document.querySelector('#jobs-switch')?.innerText,
        rows: [...document.querySelectorAll('tr[data-job]')].map(row => row.innerText),
        heights: [...document.querySelectorAll('.ops-button')].map(b => Math.round(b.getBoundingClientRect().height)),
        fonts: [...document.querySelectorAll('.ops-button')].map(b => getComputedStyle(b).fontSize),
    })""")


def test_the_jobs_page_tells_the_truth_after_pause_and_resume_and_fits_1280_and_390_px(
    browser, operator, settings, screenshots
):
    settings.JOBS_QUIET_HOURS = "off"
    factories.both_jobs_running("idle")
    after_pause = operator.post("/admin/ops/jobs/pause/", follow=True).content.decode()
    jobs.backfill_pass()  # the backfill loops (and pauses); the refresh worker has not looped yet
    after_one_loop = operator.get("/admin/ops/jobs/").content.decode()
    jobs.refresh_poll(owner="test")
    operator.post("/admin/ops/jobs/resume/")
    after_resume = operator.get("/admin/ops/jobs/").content.decode()
    confirm = operator.get("/admin/ops/jobs/pause/").content.decode()

    expected = {
        "after_pause": ("pausing", ["pausing", "pausing"]),
        "after_one_loop": ("pausing", ["paused", "pausing"]),
        "after_resume": ("resuming", ["resuming", "resuming"]),
    }
    pages = {"after_pause": after_pause, "after_one_loop": after_one_loop, "after_resume": after_resume}
    for width in WIDTHS:
        for name, html in pages.items():
            context, page = _show(browser, html, width=width)
            seen = _measure(page)
            switch, rows = expected[name]
            assert seen["switch"].startswith(switch), (name, width, seen["switch"])
            assert [row.split()[1] for row in seen["rows"]] == rows, (name, width, seen["rows"])
            assert seen["overflow"] <= 0, (name, width, seen["overflow"])
            assert len(set(seen["heights"])) == 1 and len(set(seen["fonts"])) == 1, (name, width, seen)
            if (name, width) in SHOTS:
                page.screenshot(path=screenshots / SHOTS[name, width], full_page=True)
            if name == "after_one_loop":
                assert page.locator("input[value='Run backfill now']").is_disabled()
            context.close()
        context, page = _show(browser, confirm, width=width, path="/admin/ops/jobs/pause/")
        seen = _measure(page)
        assert seen["overflow"] <= 0 and len(seen["heights"]) == 2 and len(set(seen["heights"])) == 1, (width, seen)
        context.close()
