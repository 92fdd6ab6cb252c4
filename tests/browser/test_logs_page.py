"""The Logs page in Chromium: live follow, pause, the merged view of a role on two engines, Download.

The portal runs in pytest-django's live server (real HTTP, so the EventSource is real) on the private
Docker engines' ``follow`` env (tests/walletops/test_logs_follow.py: a ticker on each engine writing a
line every 0.2 s). Static files are served from the finders, as in development.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders

from tests.walletops.helpers import WAIT, tickers_wrote

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("follow_env")]


@pytest.fixture
def page(browser, live_server, client):
    user = User.objects.create_user("reader", password="pw", is_staff=True)
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    host = urlsplit(live_server.url).hostname
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "domain": host, "path": "/"}])
    static = "/" + settings.STATIC_URL.lstrip("/")

    def serve_static(route):
        found = finders.find(urlsplit(route.request.url).path[len(static) :])
        return route.fulfill(path=found) if found else route.fulfill(status=404, body="")

    context.route(f"{live_server.url}{static}**", serve_static)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.errors = errors
    yield page
    context.close()


def _wait(page, predicate, *, seconds: float = WAIT) -> None:
    """Poll ``predicate(page)`` (the page's CSP forbids Playwright's string predicates: they are eval).
    A deadline for what must happen, generous for a loaded machine, never a measure of speed."""
    limit = time.monotonic() + seconds
    while not predicate(page):
        assert time.monotonic() < limit, f"not within {seconds} s: {page.inner_text('#logs-status')}"
        page.wait_for_timeout(100)


def _lines(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#logs .ops-log-line')].map(l => ({
        id: l.dataset.id, container: l.dataset.container, cls: l.className, text: l.textContent}))""")


def test_a_container_is_followed_live_paused_and_resumed_in_chromium(page, live_server):
    page.goto(f"{live_server.url}/admin/ops/containers/wallet-core-follow-ticker-a/logs/?env=follow&tail=5")
    before = _lines(page)
    assert len(before) == 5
    page.click("#logs-follow")
    _wait(page, lambda p: len(_lines(p)) >= 12)
    assert page.inner_text("#logs-status") == "following"
    lines = _lines(page)
    numbers = [int(line["text"].rsplit(" ", 1)[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # resumed after the last line shown
    page.click("#logs-pause")
    paused_count = len(_lines(page))
    _wait(page, lambda p: "held" in p.inner_text("#logs-status"))
    assert len(_lines(page)) == paused_count  # held, not shown
    page.click("#logs-pause")
    assert len(_lines(page)) > paused_count
    numbers = [int(line["text"].rsplit(" ", 1)[1]) for line in _lines(page)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # nothing lost while paused
    page.click("#logs-follow")
    assert page.inner_text("#logs-status") == "stopped"
    assert not page.errors


def test_the_merged_view_of_a_role_interleaves_two_engines_with_a_colour_each_and_downloads(
    page,
    live_server,
    tickers,  # noqa: F811 (the fixture imported above)
):
    tickers_wrote(tickers, 10)  # the 20 lines of the tail, however early this test runs
    page.goto(f"{live_server.url}/admin/ops/logs/?env=follow&role=ticker&tail=20")
    lines = _lines(page)
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines) and len(lines) == 20
    colours = {line["container"]: line["cls"] for line in lines}
    assert set(colours) == {"wallet-core-follow-ticker-a", "wallet-core-follow-ticker-b"}
    assert len(set(colours.values())) == 2  # a colour each
    assert page.locator("#logs-sources tr[data-container]").count() == 2
    page.click("#logs-follow")
    _wait(page, lambda p: len(_lines(p)) >= 40)
    live = _lines(page)[20:]
    assert {line["container"] for line in live} == set(colours)
    assert [line["id"] for line in live] == sorted(line["id"] for line in live)
    page.click("#logs-follow")
    shown = _lines(page)
    href = page.get_attribute("#logs-download", "href")
    assert "format=text" in href
    download = page.request.get(f"{live_server.url}{href}")
    assert download.headers["content-disposition"].startswith("attachment;")
    rows = download.text().splitlines()
    assert len(rows) == len(shown)
    assert all(row.split(" ", 2)[1].startswith(f"[{line['container']}@") for line, row in zip(shown, rows, strict=True))
    assert [row.rsplit(" ", 1)[1] for row in rows] == [line["text"].rsplit(" ", 1)[1] for line in shown]
    assert not page.errors


def test_a_logs_page_reloaded_five_times_keeps_following_under_a_cap_of_four(page, live_server, follow_env):  # noqa: F811
    """Each reload closes the page's stream; the server would notice only at that stream's next write (the
    quiet container's next heartbeat, 30 s here). The page names itself (page_id, kept across a reload):
    its new stream takes the slot of the one it closed, so the fifth reload still follows."""
    follow_env.WALLETOPS_LOG_STREAMS_PER_USER = 4
    follow_env.WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = 30
    page.goto(f"{live_server.url}/admin/ops/containers/wallet-core-follow-colour-1/logs/?env=follow&tail=5")
    statuses = []
    for n in range(5):
        if n:
            page.reload()
        page.click("#logs-follow")
        _wait(page, lambda p: p.inner_text("#logs-status") != "connecting…")
        statuses.append(page.inner_text("#logs-status"))
    assert statuses == ["following"] * 5, statuses
    assert not page.errors
