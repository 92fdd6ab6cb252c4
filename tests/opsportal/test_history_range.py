"""The history chart's range control: 1 h, 6 h, 24 h, 7 d, kept in the URL, default the shortest that holds the data."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine

from opsportal.portal import charts
from plannings import history
from plannings.models import HealthSnapshot
from tests.opsportal.helpers import DASHBOARD, Snap, panel_html

NOW = datetime(2026, 12, 1, 5, 43, 20, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("outages")


def _record(minutes: int) -> None:
    """One snapshot a minute for the last ``minutes`` minutes."""
    last = NOW.replace(second=0)
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(taken_at=last - timedelta(minutes=m), status="healthy", issues=[], queue_depth=m, total=10,
                       covered=5, disabled=0)
        for m in range(minutes)
    )  # fmt: skip


def _history(client, **params) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get(DASHBOARD, params)
    assert response.status_code == HTTPStatus.OK
    return panel_html(response.content.decode(), "history")


def _current(panel: str) -> str:
    return re.search(r'data-range="(\w+)" aria-current="true"', panel).group(1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("minutes", "default"), [(0, "1h"), (30, "1h"), (60, "1h"), (61, "6h"), (5 * 60, "6h"), (7 * 60, "24h"),
                             (3 * 24 * 60, "24h")]
)  # fmt: skip
def test_the_default_range_is_the_shortest_that_holds_the_recorded_history(admin_client, minutes, default):
    _record(minutes)
    panel = _history(admin_client)
    assert _current(panel) == default
    assert "the shortest range that holds the recorded history" in panel
    assert f"Plannings health, {charts.RANGES[default].title} (UTC)" in panel


@pytest.mark.django_db
def test_a_new_installs_first_half_hour_fills_half_the_chart_not_a_sliver(admin_client):
    _record(30)
    panel = _history(admin_client)
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"[^>]*data-status', panel)]
    plot = charts.PLOT_RIGHT - charts.PLOT_LEFT
    assert sum(widths) > plot * 0.45  # on the old fixed 24 h axis: 2 % of the plot


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["1h", "6h", "24h", "7d"])
def test_a_chosen_range_is_kept_in_the_url_and_by_the_panel_refresh(admin_client, key):
    _record(90)
    with time_machine.travel(NOW, tick=False):
        body = admin_client.get(DASHBOARD, {"range": key, "every": "30"}).content.decode()
        fragment = admin_client.get("/admin/ops/panels/history/", {"range": key, "every": "30"}).content.decode()
    panel = panel_html(body, "history")
    assert _current(panel) == key == _current(fragment)
    # The polling script fetches the fragment of the same range, and the control's links keep ?every=.
    assert f'data-url="/admin/ops/panels/history/?range={key}&amp;every=30"' in body
    for choice in charts.RANGES:
        assert f'href="/admin/ops/?range={choice}&amp;every=30" data-range="{choice}"' in panel
    assert f"History, {charts.RANGES[key].title}" in panel
    assert "the shortest range that holds" not in panel


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["2d", "<script>", "24H", "x" * 300])
def test_an_unknown_range_falls_back_to_the_default_and_says_so(admin_client, raw):
    _record(30)
    panel = _history(admin_client, range=raw)
    assert _current(panel) == "1h"
    note = re.search(r'<p class="ops-panel-note" id="history-range-invalid">(.*?)</p>', panel, re.S).group(1)
    assert "choose 1h, 6h, 24h or 7d" in note and "<script>" not in note and len(note) < 200


@pytest.mark.django_db
def test_the_week_is_read_in_one_statement(django_assert_num_queries):
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(taken_at=NOW.replace(second=0) - timedelta(minutes=m), status="healthy", issues=[])
        for m in range(0, 8 * 24 * 60, 5)
    )
    with django_assert_num_queries(1):
        rows = history.health_history(now=NOW, window=timedelta(days=7))
    assert len(rows) == 7 * 24 * 60 // 5  # past the 1440 rows of a day: the cap follows the window
    assert rows[0].taken_at > NOW - timedelta(days=7) and rows == sorted(rows, key=lambda row: row.taken_at)


def test_the_hour_has_five_minute_ticks_labelled_every_quarter():
    chart = charts.history_chart([], now=NOW, history_range=charts.RANGES["1h"])
    assert len(chart.hour_ticks) == 12
    assert [tick.label for tick in chart.hour_ticks if tick.label] == ["04:45", "05:00", "05:15", "05:30"]


def test_the_week_labels_its_midnights_by_weekday_and_buckets_half_hours():
    snapshots = [Snap(taken_at=NOW - timedelta(days=6, hours=h)) for h in range(3)]
    chart = charts.history_chart(snapshots, now=NOW, history_range=charts.RANGES["7d"])
    labels = [tick.label for tick in chart.hour_ticks if tick.label]
    assert labels == ["Wed 25", "Thu 26", "Fri 27", "Sat 28", "Sun 29", "Mon 30", "Tue 01"]
    assert chart.title == "Plannings health, last 7 days (UTC)"
    assert chart.summary.startswith("Last 7 days to 05:43:")
    assert chart.snapshot_count == 3
