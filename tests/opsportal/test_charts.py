"""The health history chart: snapshots in, SVG geometry out, and the panel template that draws it."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from opsportal.portal import charts
from opsportal.portal.charts import LANE_HEIGHT, PLOT_LEFT, PLOT_RIGHT, history_chart, nice_ceiling
from tests.opsportal.helpers import Snap

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=24)


def _x(moment: datetime, start: datetime = START) -> float:
    return PLOT_LEFT + (moment - start) / timedelta(hours=24) * (PLOT_RIGHT - PLOT_LEFT)


def _minutes(first: datetime, count: int, **figures) -> list[Snap]:
    return [Snap(taken_at=first + timedelta(minutes=i), **figures) for i in range(count)]


def _lane(chart, title):
    return next(lane for lane in chart.lanes if lane.title == title)


def _series(chart, name):
    return next(series for lane in chart.lanes for series in lane.series if series.name == name)


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (2, 2), (7, 8), (50, 50), (51, 60), (99, 100), (1001, 1500), (4999, 5000)]
)
def test_scales_end_on_a_round_number_at_or_above_the_peak(value, top):
    assert nice_ceiling(value) == top


def test_a_point_sits_mid_bucket_and_is_scaled_to_its_lane():
    midnight = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
    snapshots = _minutes(midnight, 10, queue_depth=25, covered=40, total=80, disabled=3)
    snapshots += _minutes(midnight + timedelta(hours=6), 1, queue_depth=50, covered=80, total=80, disabled=6)
    chart = history_chart(snapshots, now=NOW)

    depth_lane = _lane(chart, "Queue depth")
    assert depth_lane.maximum == 50
    assert [tick.label for tick in depth_lane.ticks] == ["0", "25", "50"]
    depth = _series(chart, "Queue depth")
    (first_run, single) = depth.runs
    # Two buckets (00:00 and 00:05), each drawn at its middle; 25 of 50 is half the lane's height.
    assert [p.x for p in first_run] == pytest.approx(
        [_x(midnight + timedelta(minutes=2.5)), _x(midnight + timedelta(minutes=7.5))], abs=0.05
    )
    assert [p.y for p in first_run] == pytest.approx([depth_lane.top + LANE_HEIGHT / 2] * 2, abs=0.05)
    assert single == (charts.Point(pytest.approx(_x(midnight + timedelta(hours=6, minutes=2.5)), abs=0.05),
                                   depth_lane.top),)  # fmt: skip
    assert len(depth.polylines) == 1 and len(depth.dots) == 1

    covered_lane = _lane(chart, "Backups covered")
    assert covered_lane.maximum == 80  # the total, drawn dashed beside covered
    assert _series(chart, "Covered").runs[0][0].y == pytest.approx(covered_lane.top + LANE_HEIGHT / 2, abs=0.05)
    assert _series(chart, "Total plannings").runs[0][0].y == pytest.approx(covered_lane.top, abs=0.05)
    assert _series(chart, "Total plannings").dashed
    disabled_lane = _lane(chart, "Disabled plannings")
    assert disabled_lane.maximum == 6
    assert _series(chart, "Disabled").runs[0][0].y == pytest.approx(disabled_lane.top + LANE_HEIGHT / 2, abs=0.05)
    assert (depth_lane.latest, covered_lane.latest, disabled_lane.latest) == ("50", "80 of 80", "6")


def test_a_bucket_keeps_its_worst_minute():
    first = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    snapshots = [
        Snap(first, queue_depth=10, covered=90, disabled=1),
        Snap(first + timedelta(minutes=1), "degraded", ["Jobs paused"], queue_depth=30, covered=70, disabled=4),
        Snap(first + timedelta(minutes=2), queue_depth=20, covered=80, disabled=2),
    ]
    chart = history_chart(snapshots, now=NOW)

    lane = _lane(chart, "Queue depth")
    assert lane.maximum == 30
    assert _series(chart, "Queue depth").dots[0].y == pytest.approx(lane.top, abs=0.05)  # 30, not a mean of 20
    covered = _lane(chart, "Backups covered")
    assert _series(chart, "Covered").dots[0].y == pytest.approx(covered.bottom - 70 / 100 * LANE_HEIGHT, abs=0.05)
    assert _series(chart, "Disabled").dots[0].y == pytest.approx(_lane(chart, "Disabled plannings").top, abs=0.05)
    degraded = [segment for segment in chart.segments if segment.status == "degraded"]
    assert [segment.label for segment in degraded] == ["Degraded, 09:00–09:05: Jobs paused"]


def test_status_runs_become_segments_and_gaps_show_as_no_data():
    ten = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    snapshots = (
        _minutes(ten, 30)
        + _minutes(ten + timedelta(minutes=30), 30, status="unhealthy", issues=["Backfill stale (31m ago)"])
        + _minutes(ten + timedelta(minutes=90), 31, status="degraded", issues=["High disabled: 2/10 (20%)"])
    )  # 11:00–11:29 missing; the last snapshot is taken at 12:00 exactly, which is now
    chart = history_chart(snapshots, now=NOW)

    bounds = [START, ten, ten + timedelta(minutes=30), ten + timedelta(hours=1), ten + timedelta(minutes=90), NOW]
    assert [s.status for s in chart.segments] == ["none", "healthy", "unhealthy", "none", "degraded"]
    assert [s.x for s in chart.segments] == pytest.approx([_x(b) for b in bounds[:-1]], abs=0.05)
    assert [s.x + s.width for s in chart.segments] == pytest.approx([_x(b) for b in bounds[1:]], abs=0.1)
    assert chart.segments[-1].x + chart.segments[-1].width == pytest.approx(PLOT_RIGHT, abs=0.1)
    assert [s.colour for s in chart.segments] == [charts.STATUS_COLOURS[s.status] for s in chart.segments]
    assert chart.segments[2].label == "Unhealthy, 10:30–11:00: Backfill stale (31m ago)"
    assert chart.segments[3].label == "No data, 11:00–11:30"
    # The gap breaks every line in two.
    assert [len(series.runs) for lane in chart.lanes for series in lane.series] == [2, 2, 2, 2]
    assert chart.snapshot_count == 91
    assert chart.summary.startswith("Last 24 hours to 12:00: healthy 2%, degraded 2%, unhealthy 2%, no data 94%")


def test_the_bucket_of_now_without_its_snapshot_yet_is_pending_not_a_gap():
    now = NOW + timedelta(minutes=3, seconds=30)
    chart = history_chart(_minutes(NOW - timedelta(minutes=10), 10), now=now)

    assert chart.segments[-1].status == "healthy"
    last_end = chart.segments[-1].x + chart.segments[-1].width
    assert last_end == pytest.approx(_x(NOW, start=now - timedelta(hours=24)), abs=0.1)  # 12:00, not 12:03:30


def test_snapshots_outside_the_window_are_left_out():
    inside = Snap(NOW - timedelta(hours=1), queue_depth=5)
    chart = history_chart(
        [Snap(START, queue_depth=900), inside, Snap(NOW + timedelta(minutes=1), queue_depth=900)], now=NOW
    )
    assert chart.snapshot_count == 1
    assert _lane(chart, "Queue depth").maximum == 5


def test_an_empty_history_keeps_its_axes_and_says_so():
    chart = history_chart([], now=NOW)

    assert chart.empty
    assert chart.summary == "No history yet: no health snapshot in the last 24 hours."
    assert [s.status for s in chart.segments] == ["none"]
    assert chart.segments[0].x == PLOT_LEFT
    assert all(series.runs == () for lane in chart.lanes for series in lane.series)
    assert [lane.maximum for lane in chart.lanes] == [1, 1, 1]
    # Now is on the hour: both ends of the axis get a tick.
    assert [(t.position, t.label) for t in chart.hour_ticks[:: len(chart.hour_ticks) - 1]] == [
        (PLOT_LEFT, "12:00"),
        (PLOT_RIGHT, "12:00"),
    ]


def test_hour_ticks_fall_on_full_hours_and_every_third_is_labelled():
    now = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    chart = history_chart([], now=now)

    assert len(chart.hour_ticks) == 24
    first_full_hour = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert chart.hour_ticks[0].position == pytest.approx(_x(first_full_hour, now - timedelta(hours=24)), abs=0.05)
    labelled = [tick.label for tick in chart.hour_ticks if tick.label]
    assert labelled == ["15:00", "18:00", "21:00", "00:00", "03:00", "06:00", "09:00", "12:00"]


def test_hour_ticks_follow_the_display_zone_across_a_dst_change():
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # Paris moved from +1 to +2 at 01:00 UTC
    chart = history_chart([], now=now, tz=ZoneInfo("Europe/Paris"))

    start = now - timedelta(hours=24)
    positions = [tick.position for tick in chart.hour_ticks]
    assert len(positions) == 25 and positions == sorted(set(positions))  # one tick per real hour, none repeated
    by_position = {round(tick.position, 1): tick.label for tick in chart.hour_ticks}
    assert by_position[round(_x(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), start), 1)] == "00:00"
    assert by_position[round(_x(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), start), 1)] == "03:00"
    assert by_position[round(_x(datetime(2026, 3, 29, 10, 0, tzinfo=UTC), start), 1)] == "12:00"
    assert chart.timezone_name == "CEST"


# --- The panel template ------------------------------------------------------------------


def _render(chart) -> str:
    return render_to_string("opsportal/history_chart.html", {"history": chart})


def test_the_panel_draws_the_chart_as_svg_with_its_title_and_legend():
    ten = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    snapshots = _minutes(ten, 20, queue_depth=4) + _minutes(ten + timedelta(minutes=40), 20, status="degraded")
    chart = history_chart(snapshots, now=NOW)
    html = _render(chart)

    assert '<title id="ops-history-title">Plannings health, last 24 hours (UTC)</title>' in html
    assert 'role="img" aria-labelledby="ops-history-title ops-history-desc"' in html
    assert f'<desc id="ops-history-desc">{chart.summary}</desc>' in html
    assert html.count("<rect x=") == len(chart.segments) == 5
    polylines = re.findall(r'<polyline points="([^"]+)"', html)
    assert polylines == [points for lane in chart.lanes for series in lane.series for points in series.polylines]
    assert len(polylines) == 8  # four series, each broken by the gap
    for label in ("Healthy", "Degraded", "Unhealthy", "No data", "Queue depth", "Covered", "Disabled"):
        assert f"</svg> {label}</li>" in html
    assert "No history yet" not in html
    assert "40 snapshots" in html


def test_the_panel_escapes_issue_text():
    hostile = '<script>alert("x")</script> & more'
    chart = history_chart([Snap(NOW - timedelta(minutes=3), "degraded", [hostile])], now=NOW)
    html = _render(chart)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html


def test_the_empty_panel_says_no_history_yet():
    html = _render(history_chart([], now=NOW))

    assert html.count("No history yet") == 3  # the picture, its description, and the caption
    assert "<polyline" not in html
    assert "<svg" in html


def test_coordinates_stay_decimal_points_in_a_decimal_comma_locale(settings):
    settings.USE_THOUSAND_SEPARATOR = True
    chart = history_chart(_minutes(NOW - timedelta(hours=3), 30, queue_depth=1234), now=NOW)
    with translation.override("de"):
        html = _render(chart)

    band = chart.segments[-1]
    assert f'<rect x="{band.x}" y="{chart.band_top}" width="{band.width}"' in html
    assert not re.search(r'(x|y|width|height|cx|cy)="\d+,\d', html)
