"""No page wider than the screen: every operations page, the admin index, the change lists and the login page,
at 1280 px and on a 390 px phone, in Chromium (a table scrolls inside its own box instead). And the history's
range control, kept in the URL through the panels' refresh."""

import pytest
from django.utils import timezone

from tests.browser.helpers import PASSWORD, demo_data, ops_pages

pytestmark = pytest.mark.postgres_only
WIDTHS = (1280, 390)

# The elements that stick out past the viewport, widest first: named in the failure message.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      let inScroller = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (["auto", "scroll", "hidden"].includes(style.overflowX) && p.getBoundingClientRect().right <= width + 1) {
          inScroller = true; break;
        }
      }
      if (!inScroller) {
        const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/).join(".") : "";
        const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (classes ? "." + classes : "");
        out.push([Math.round(box.right), name]);
      }
    }
  }
  out.sort((a, b) => b[0] - a[0]);
  return out.slice(0, 6);
}"""


def _too_wide(page, path: str) -> tuple[str, int, int, list] | None:
    page.goto(path)
    page.wait_for_selector("#content, #container")
    scroll_width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll_width <= viewport:
        return None
    return path, scroll_width, viewport, page.evaluate(OVERFLOW_JS)


def _range_control_check(page) -> None:
    """The history's range control: the choice goes into the URL and survives the panel's refresh in place."""
    page.goto("/admin/ops/?every=2")
    page.click("#history-range a[data-range='6h']")
    page.wait_for_url("**/admin/ops/?range=6h&every=2")
    assert page.get_attribute("#history-range [aria-current=true]", "data-range") == "6h"
    page.evaluate("window.stillHere = true")
    page.wait_for_selector("#ops-refreshed:text('Last refreshed')", timeout=15_000)
    assert page.evaluate("window.stillHere") is True  # refreshed in place, not reloaded
    assert page.get_attribute("#ops-refreshed time", "title").endswith(" UTC")  # the one date format
    assert page.get_attribute("#history-range [aria-current=true]", "data-range") == "6h"
    assert "last 6 hours" in page.inner_text("#panel-history h2")


def test_no_page_is_wider_than_the_screen_at_1280_and_390_px(browser, portal, screenshots):  # noqa: F811
    demo_data(timezone.now())
    offenders = []
    for width in WIDTHS:
        context = browser.new_context(base_url=portal.url, viewport={"width": width, "height": 844})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            offenders += filter(None, [_too_wide(page, "/admin/login/")])
            page.fill("#id_username", "ana")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector("#content")
            pages = ops_pages(page)
            assert {"/admin/ops/", "/admin/ops/containers/", "/admin/ops/jobs/", "/admin/plannings/planning/"} <= set(
                pages
            )
            offenders += filter(None, (_too_wide(page, path) for path in pages))
            # The token page: what the add form answers (the secret shown once).
            page.goto("/admin/opsapi/apitoken/add/")
            page.fill("#id_name", f"grafana-{width}")
            page.check("input[name=scope_choices][value=read]")
            page.click("input[name=_save]")
            page.wait_for_selector("#token-secret")
            scroll_width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll_width > viewport:
                offenders.append(("token page", scroll_width, viewport, page.evaluate(OVERFLOW_JS)))
            if width == 1280:
                _range_control_check(page)
            if width == 390:
                page.goto("/admin/ops/")
                page.screenshot(path=screenshots / "dashboard-phone.png", full_page=True)
        finally:
            context.close()
    assert offenders == [], "\n".join(
        f"{path}: {sw} px in {vw} px; sticking out: {els}" for path, sw, vw, els in offenders
    )
