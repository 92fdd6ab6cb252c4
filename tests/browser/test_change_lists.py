"""The plannings change lists and a planning's page fit the screen in Chromium: 1280 px with no horizontal
scrolling at all, and 390 px (a phone) with nothing wider than the screen but the results table's own box.

The pages are served by pytest-django's live server (in this process, on the test database) with realistic
rows: the catalog's longest full ids, lock owners, errors and bad bodies.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plannings.models import RefreshAttempt
from tests import factories

pytestmark = pytest.mark.postgres_only
LISTS = ["planning", "planningbackup", "planningrefreshqueue", "planningrefreshstate"]
# Full ids as long as the catalog's (data/catalog): ~170 characters of school, programme and group slugs.
LONG = (
    "esir.04esir3fise.cm-td-tptoutesir3.tis3.cm-td-tptisesir3.voie1:dispositifsmedicauxnumeriques"
    ".voie1:tpgr1tisesir3.voie1:tpgr1tisesir3projetindustriel"
)
TITLE = "Voie 1 : TP groupe 1 TIS ESIR3 projet industriel (dispositifs médicaux numériques)"


URL = (
    "https://planning.univ-rennes1.fr/jsp/custom/modules/plannings/anonymous_cal.jsp?resources={i}&projectId=1"
    "&calType=ical&firstDate={{date-start}}&lastDate={{date-end}}"
)
OWNER = "opsportal-worker-7f9c2d1b8e-x2kqz:{pid}:9f8e7d6c"
HTML = "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>Le service est en maintenance</h1>"


def _realistic_rows(now) -> str:
    for i in range(40):
        planning = factories.planning_make(
            f"{LONG}.g{i:02d}", planning_id="esir", title=f"{TITLE} {i}", url=URL.format(i=i)
        )
        factories.backup_make(
            planning, events=[{"uid": str(n)} for n in range(30)], updated_at=now - timedelta(hours=i)
        )
        factories.state_make(
            planning,
            consecutive_failures=i % 7,
            last_failure_kind="http_4xx" if i % 3 else "timeout",
            last_error="http_404" if i % 3 else "timeout",
            last_attempt_at=now,
            last_success_at=now - timedelta(days=2),
            disabled_until=now + timedelta(days=30) if i % 2 else None,
        )
        if i % 2 == 0:
            factories.queue_item_make(
                planning,
                attempts=3,
                locked_at=now - timedelta(minutes=i % 9),
                lock_owner=OWNER.format(pid=4000 + i),
                next_attempt_at=now + timedelta(minutes=5),
                last_error="TimeoutError: no answer within 5 s from planning.univ-rennes1.fr",
            )
    first = f"{LONG}.g00"
    # A history like a real one: mostly unchanged refreshes, a few failures, one bad body.
    kinds = [
        ("not_modified", {"http_status": 200, "bytes": 53_211, "events": 30}),
        ("success", {"http_status": 200, "bytes": 54_002, "events": 31}),
        ("timeout", {"error": "timeout: no answer within 5 s"}),
        ("http_5xx", {"http_status": 503, "error": "http_5xx: HTTP 503"}),
        ("invalid_body", {"http_status": 200, "bytes": 4_210, "error": "invalid_body: an HTML page, not a calendar",
                          "body_head": HTML}),
    ]  # fmt: skip
    RefreshAttempt.objects.bulk_create(
        RefreshAttempt(
            planning_id=first,
            started_at=now - timedelta(hours=m),
            finished_at=now - timedelta(hours=m),
            outcome=kinds[0 if m % 7 else (m // 7) % len(kinds)][0],
            duration_ms=180 + (m * 37) % 900,
            worker=OWNER.format(pid=4000 + m % 3),
            **kinds[0 if m % 7 else (m // 7) % len(kinds)][1],
        )
        for m in range(50)
    )
    return first


@pytest.fixture
def pages(browser, live_server, transactional_db):
    now = timezone.now()
    first = _realistic_rows(now)
    user = User.objects.create_superuser("ana", password="pw")
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    def open_page(width: int):
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(20_000)
        return context, page

    urls = [f"/admin/plannings/{model}/" for model in LISTS] + [f"/admin/plannings/planning/{quote(first)}/change/"]
    return open_page, urls


def _widths(page) -> dict:
    return page.evaluate(
        """() => {
            const results = document.querySelector('#changelist .results');
            return {
                page: document.documentElement.scrollWidth,
                results: results ? results.scrollWidth : 0,
                box: results ? results.clientWidth : 0,
                rows: document.querySelectorAll('#result_list tbody tr, .story-attempt').length,
            };
        }"""
    )


def test_the_change_lists_and_a_planning_s_page_fit_1280_px_without_scrolling(pages, screenshots):
    open_page, urls = pages
    context, page = open_page(1280)
    try:
        for url in urls:
            page.goto(url)
            if url.endswith("/change/"):  # the planning's page, for the README
                clip = {"x": 0, "y": 0, "width": 1280, "height": 1500}  # the top, and the newest attempts
                page.screenshot(path=screenshots / "planning.png", full_page=True, clip=clip)
            widths = _widths(page)
            assert widths["rows"] >= 20, url
            assert widths["page"] <= 1280, (url, widths)
            assert widths["results"] <= widths["box"], (url, widths)  # the table fits its panel: no scrollbar
        # The full id is on hover of its shortened form, and whole on the row's page.
        page.goto(urls[0])
        short = page.locator("#result_list tbody tr .short-id").first
        assert short.get_attribute("title").startswith(LONG)
        assert "…" in short.inner_text() and len(short.inner_text()) < 40
    finally:
        context.close()


def test_on_a_phone_nothing_but_the_results_table_is_wider_than_the_screen(pages):
    open_page, urls = pages
    context, page = open_page(390)
    try:
        for url in urls:
            page.goto(url)
            # What sticks out, should anything (outside the boxes that may scroll), for the failure's message.
            wide = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > 392 && !e.closest('.story-table, .results'))
                .slice(0, 8).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""
            )
            assert _widths(page)["page"] <= 390, (url, _widths(page), wide)
    finally:
        context.close()
