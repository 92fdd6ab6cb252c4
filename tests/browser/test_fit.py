"""Nothing cut: at 1280 px, 1500 px (where the filters stand beside the change lists again) and on a 390 px
phone, every header and cell of the dashboard's panels, the Alerts list (alerts of every state), the Rules
list and every change list the admin index links shows its whole content; from 1280 px no table is wider
than its box (no column hidden beyond a horizontal scroll; a phone may scroll a wide list inside its own
box); the history chart's text is at least 10 px high."""

from datetime import timedelta

import pytest
from django.utils import timezone

from opsportal.alerts.models import Alert, Channel, MaintenanceWindow, Mute, Notification, Rule
from tests.browser.helpers import demo_data, log_in, ops_pages

pytestmark = pytest.mark.postgres_only
# 1500 px too: from 1441 px the change lists' filters stand beside them again.
WIDTHS = (1280, 1500, 390)
MIN_TEXT_PX = 10

# Each visible table's headers and cells whose content is wider than their box (cut by overflow, or
# spilling over the next column), and at 1280 px each table wider than the box it scrolls in.
CUT_JS = """(wide) => {
  const cut = [];
  const name = (el) => {
    const table = el.closest("table");
    const id = table && (table.id || (table.closest("[id]") || {}).id) || "";
    return `${id} ${el.tagName.toLowerCase()} "${el.innerText.trim().slice(0, 40)}"`;
  };
  for (const table of document.querySelectorAll("table")) {
    if (!table.offsetParent || table.getBoundingClientRect().width === 0) continue;
    for (const cell of table.querySelectorAll("th, td")) {
      if (!cell.offsetParent || !cell.innerText.trim()) continue;
      if (cell.scrollWidth > cell.clientWidth + 1) {
        cut.push(`${name(cell)}: ${cell.scrollWidth} px in ${cell.clientWidth} px`);
        continue;
      }
      // A clipped child (an ellipsis) is cut too.
      for (const child of cell.querySelectorAll("*")) {
        const style = getComputedStyle(child);
        if (style.overflowX !== "visible" && child.scrollWidth > child.clientWidth + 1) {
          const clipped = child.tagName.toLowerCase();
          cut.push(`${name(cell)} (a clipped ${clipped}): ${child.scrollWidth} px in ${child.clientWidth} px`);
          break;
        }
      }
    }
    if (wide) {
      let box = table.parentElement;
      while (box && box !== document.body && getComputedStyle(box).overflowX === "visible") box = box.parentElement;
      const room = box && box !== document.body ? box.clientWidth : document.documentElement.clientWidth;
      const width = table.getBoundingClientRect().width;
      if (width > room + 1) cut.push(`${name(table)}: the table is ${Math.round(width)} px in ${room} px`);
    }
  }
  return cut;
}"""

# The rendered height of each SVG text of the history chart: its font size times the SVG's scale.
CHART_TEXT_JS = """() => [...document.querySelectorAll("#panel-history svg text")].map((t) => {
  const size = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().d;
  return [t.textContent.trim(), Math.round(size * 10) / 10];
})"""


def _alerts_of_every_state(now) -> None:
    # The migration's default rule, or (after a transactional test flushed the tables) the same made again.
    rule, _ = Rule.objects.get_or_create(
        kind="container",
        defaults={"name": "Containers", "thresholds": {"stopped": True, "unhealthy": True, "restarting": True}},
    )
    hook = Channel.objects.create(name="ops hook", kind="webhook", url="https://hooks.example.com/T0/SECRET")

    def alert(target: str, state: str, hours: int, **fields) -> Alert:
        closed = state in ("ok", "resolved")
        return Alert.objects.create(
            rule=rule,
            target=target,
            state=state,
            started_at=now - timedelta(hours=hours),
            fired_at=now - timedelta(hours=hours) + timedelta(minutes=2) if state != "pending" else None,
            resolved_at=now - timedelta(minutes=5) if closed else None,
            message=f"{target} (production, worker, on engine-production): stopped (exited)",
            **fields,
        )

    firing = alert("wallet-core-production-worker-def5678", "alerting", 2, flapping=True)
    alert("wallet-core-staging-runner-abc1234", "pending", 1, held=True)
    alert(
        "wallet-core-production-web-0123456",
        "alerting",
        3,
        acknowledged_at=now,
        acknowledged_by="ana",
        ack_comment="looking at it",
    )
    alert("wallet-core-staging-web-7654321", "resolved", 26)
    alert("wallet-core-staging-cron-1111111", "ok", 30)
    Notification.objects.create(
        alert=firing, channel=hook, kind="fired", status="sent", title="[ALERT] t", body="b", attempts=1, sent_at=now
    )
    Mute.objects.create(
        rule=rule, target="wallet-core-staging-*", until=now + timedelta(hours=4), reason="upgrade", created_by="ana"
    )
    MaintenanceWindow.objects.create(
        name="Tuesday patching",
        rule=rule,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        created_by="ana",
        reason="kernel updates",
    )


def test_no_table_column_is_cut_and_chart_text_is_readable_at_1280_and_390_px(browser, portal):  # noqa: F811
    now = timezone.now()
    demo_data(now)
    _alerts_of_every_state(now)
    cut, small = [], []
    for width in WIDTHS:
        context = browser.new_context(base_url=portal.url, viewport={"width": width, "height": 844})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            log_in(page)
            pages = ops_pages(page)
            assert {"/admin/ops/", "/admin/alerts/alert/", "/admin/alerts/rule/"} <= set(pages)
            for path in pages:
                page.goto(path)
                page.wait_for_selector("#content, #container")
                if path == "/admin/ops/":
                    page.wait_for_selector("#panel-hosts .ops-bar")  # Prometheus may need a scrape or two first
                cut += [f"{width} px {path}: {what}" for what in page.evaluate(CUT_JS, width >= 1280)]
            page.goto("/admin/ops/")
            page.wait_for_selector("#panel-history svg text")
            small += [
                f"{width} px: {text!r} {size} px" for text, size in page.evaluate(CHART_TEXT_JS) if size < MIN_TEXT_PX
            ]
        finally:
            context.close()
    assert cut == [], "cut:\n" + "\n".join(cut)
    assert small == [], "chart text under 10 px:\n" + "\n".join(small)
