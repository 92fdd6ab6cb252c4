"""The Jobs page in Chromium after Pause and after Resume, at 1280 and 390 px: what it says, and that it fits.

Cheap on purpose: no dev server. The page is rendered by Django's test client and handed to
Chromium with the admin's real static files (served from the staticfiles finders), so the
layout measured is the one users get, without starting a server process.
"""

import pytest
from django.contrib.auth.models import Permission, User

from plannings import jobs
from tests import factories
from tests.browser.helpers import jobs_page_measure, page_show

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]
WIDTHS = (1280, 390)
SHOTS = {("after_one_loop", 1280): "jobs-pausing.png"}


@pytest.fixture
def operator(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="control_jobs"))
    client.force_login(user)
    return client


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
            context, page = page_show(browser, html, width=width)
            seen = jobs_page_measure(page)
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
        context, page = page_show(browser, confirm, width=width, path="/admin/ops/jobs/pause/")
        seen = jobs_page_measure(page)
        assert seen["overflow"] <= 0 and len(seen["heights"]) == 2 and len(set(seen["heights"])) == 1, (width, seen)
        context.close()
