"""Server-rendered charts: data in, SVG geometry out. Pure: the template draws what this computes.

``history_chart`` turns the health snapshots of a range (1 h, 6 h, 24 h or 7 d, see
``RANGES``) into the dashboard's history chart: a status band on top, then one lane per
figure (queue depth, backups covered of total, disabled), each with its own zero-based
scale, over a fixed x-axis of the range ending at ``now`` with clock ticks. A lane per figure because
the figures differ by orders of magnitude (thousands covered, a handful disabled):
on one shared scale the small ones would lie flat on zero.

Coordinates are user units of the SVG's ``viewBox``, rounded to 0.1 so the markup
stays small; the template renders them with localisation off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple, Protocol

from opsportal.lib.health_status import LADDER, status_rank


@dataclass(frozen=True)
class HistoryRange:
    """One choice of the range control: its window, bucket and axis ticks.

    A bucket keeps the worst of its minutes (worst status, highest queue depth and
    disabled, lowest coverage) so a short incident is never averaged away. Buckets
    are sized for 60 to 340 per chart: a readable band and light polylines.
    """

    key: str  # the ``?range=`` value
    label: str  # the control's text
    title: str  # "last 24 hours"
    window: timedelta
    bucket: timedelta
    bucket_label: str
    tick_every: timedelta  # a grid line; ticks fall on multiples of it in the display zone's day
    label_every: timedelta  # a labelled tick
    label_format: str


RANGES = {
    r.key: r
    for r in (
        HistoryRange("1h", "1 h", "last hour", timedelta(hours=1), timedelta(minutes=1), "minute",
                     timedelta(minutes=5), timedelta(minutes=15), "%H:%M"),
        HistoryRange("6h", "6 h", "last 6 hours", timedelta(hours=6), timedelta(minutes=2), "2 minutes",
                     timedelta(minutes=30), timedelta(hours=1), "%H:%M"),
        HistoryRange("24h", "24 h", "last 24 hours", timedelta(hours=24), timedelta(minutes=5), "5 minutes",
                     timedelta(hours=1), timedelta(hours=3), "%H:%M"),
        HistoryRange("7d", "7 d", "last 7 days", timedelta(days=7), timedelta(minutes=30), "30 minutes",
                     timedelta(hours=6), timedelta(days=1), "%a %d"),
    )
}  # fmt: skip
LONGEST_DEFAULT = "24h"  # the default never goes past a day: a week is a choice, not a surprise
WINDOW = RANGES["24h"].window
BUCKET = RANGES["24h"].bucket
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

NO_DATA = "none"
STATUS_RANK = {status.value: status_rank(status) for status in LADDER}
STATUS_LABELS = {"healthy": "Healthy", "degraded": "Degraded", "unhealthy": "Unhealthy", NO_DATA: "No data"}
STATUS_COLOURS = {"healthy": "#2e7d32", "degraded": "#f0a800", "unhealthy": "#c62828", NO_DATA: "#b0b0b0"}
DEPTH_COLOUR = "#1565c0"
COVERED_COLOUR = "#00897b"
TOTAL_COLOUR = "#757575"
DISABLED_COLOUR = "#8e24aa"

# Layout, in viewBox units.
WIDTH = 760
PLOT_LEFT = 64.0
PLOT_RIGHT = WIDTH - 16.0
TOP = 8.0
BAND_HEIGHT = 18.0
LANE_TITLE_SPACE = 24.0
LANE_HEIGHT = 64.0
AXIS_LABEL_SPACE = 26.0


class Snapshot(Protocol):
    """What the chart reads of a snapshot (``plannings.models.HealthSnapshot`` has it)."""

    taken_at: datetime
    status: str
    issues: list[str]
    queue_depth: int
    total: int
    covered: int
    disabled: int


class Point(NamedTuple):
    x: float
    y: float


@dataclass(frozen=True)
class Tick:
    """An axis tick: ``position`` is x on the time axis, y on a value axis; ``label`` may be empty."""

    position: float
    label: str


@dataclass(frozen=True)
class Segment:
    """A stretch of the status band: consecutive buckets with one status, or no data."""

    x: float
    width: float
    status: str
    colour: str
    label: str
    duration: timedelta


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    runs: tuple[tuple[Point, ...], ...]
    dashed: bool = False

    @property
    def polylines(self) -> list[str]:
        """SVG ``points`` of each unbroken run of two points or more (a gap breaks the line)."""
        return [" ".join(f"{p.x},{p.y}" for p in run) for run in self.runs if len(run) > 1]

    @property
    def dots(self) -> list[Point]:
        # A polyline of one point draws nothing: a bucket between two gaps is a dot.
        return [run[0] for run in self.runs if len(run) == 1]


@dataclass(frozen=True)
class Lane:
    title: str
    top: float
    height: float
    maximum: int
    ticks: tuple[Tick, ...]
    series: tuple[Series, ...]
    latest: str = ""  # the latest snapshot's figure, beside the title

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def title_y(self) -> float:
        return self.top - 8


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    kind: str  # "band", "line" or "dashed"


@dataclass(frozen=True)
class HistoryChart:
    """The template's ``history``: everything ``opsportal/history_chart.html`` draws, already placed."""

    start: datetime
    end: datetime
    timezone_name: str
    snapshot_count: int
    title: str
    summary: str
    segments: tuple[Segment, ...]
    lanes: tuple[Lane, ...]
    hour_ticks: tuple[Tick, ...]
    legend: tuple[LegendEntry, ...]
    axis_y: float
    history_range: HistoryRange = field(default_factory=lambda: RANGES["24h"])
    width: int = WIDTH
    plot_left: float = PLOT_LEFT
    plot_right: float = PLOT_RIGHT
    band_top: float = TOP
    band_height: float = BAND_HEIGHT

    @property
    def empty(self) -> bool:
        return self.snapshot_count == 0

    @property
    def height(self) -> float:
        return self.axis_y + AXIS_LABEL_SPACE

    @property
    def label_x(self) -> float:
        """Right edge of the labels left of the plot (the band's name, y-axis values)."""
        return self.plot_left - 6

    @property
    def band_label_y(self) -> float:
        return self.band_top + self.band_height / 2

    @property
    def tick_label_y(self) -> float:
        return self.axis_y + 16

    @property
    def centre_x(self) -> float:
        return round((self.plot_left + self.plot_right) / 2, 1)

    @property
    def centre_y(self) -> float:
        return round((self.band_top + self.axis_y) / 2, 1)


@dataclass
class _Bucket:
    start: datetime
    end: datetime
    status: str = NO_DATA
    issues: list[str] = field(default_factory=list)
    queue_depth: int = 0
    covered: int = 0
    total: int = 0
    disabled: int = 0
    count: int = 0

    def add(self, snapshot: Snapshot) -> None:
        rank = STATUS_RANK[snapshot.status]
        if self.count == 0 or rank > STATUS_RANK[self.status]:
            self.status, self.issues = snapshot.status, list(snapshot.issues)
        elif rank == STATUS_RANK[self.status]:
            self.issues += [issue for issue in snapshot.issues if issue not in self.issues]
        first = self.count == 0
        self.queue_depth = snapshot.queue_depth if first else max(self.queue_depth, snapshot.queue_depth)
        self.covered = snapshot.covered if first else min(self.covered, snapshot.covered)
        self.total = snapshot.total if first else max(self.total, snapshot.total)
        self.disabled = snapshot.disabled if first else max(self.disabled, snapshot.disabled)
        self.count += 1


def nice_ceiling(value: float) -> int:
    """A round scale top at or above ``value``: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        top = factor * magnitude
        if top >= value and top == int(top):
            return int(top)
    return 10 * magnitude  # unreachable: 10 × magnitude is always above value


def _floor(moment: datetime, step: timedelta) -> datetime:
    # Buckets are aligned on the clock (12:00, 12:05 ...), not on ``now``, so they hold still between refreshes.
    return _EPOCH + (moment - _EPOCH) // step * step


def range_default(snapshots: Sequence[Snapshot], *, now: datetime) -> HistoryRange:
    """The shortest range holding every snapshot of the last 24 h, so a new install's hour is not a sliver.

    With no snapshot at all the shortest range; with a day or more recorded, 24 h.
    """
    oldest = min((s.taken_at for s in snapshots if s.taken_at <= now), default=None)
    for history_range in RANGES.values():
        if oldest is None or oldest > now - history_range.window or history_range.key == LONGEST_DEFAULT:
            return history_range
    return RANGES[LONGEST_DEFAULT]  # unreachable: the loop stops at LONGEST_DEFAULT


def _x(moment: datetime, start: datetime, window: timedelta = WINDOW) -> float:
    return round(PLOT_LEFT + (moment - start) / window * (PLOT_RIGHT - PLOT_LEFT), 1)


def _clock(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def _buckets(
    snapshots: Iterable[Snapshot], start: datetime, end: datetime, bucket: timedelta = BUCKET
) -> list[_Bucket]:
    first = _floor(start, bucket)
    buckets = []
    moment = first
    while moment < end:
        buckets.append(_Bucket(start=max(moment, start), end=min(moment + bucket, end)))
        moment += bucket
    for snapshot in snapshots:
        # A snapshot taken exactly at ``now`` on a bucket boundary belongs to the last bucket.
        index = min((snapshot.taken_at - first) // bucket, len(buckets) - 1)
        buckets[index].add(snapshot)
    # The bucket of ``now`` is still filling: without a snapshot yet it is pending, not a gap.
    if buckets and buckets[-1].count == 0:
        buckets.pop()
    return buckets


def _segment_label(status: str, start: datetime, end: datetime, issues: list[str], tz: tzinfo) -> str:
    label = f"{STATUS_LABELS[status]}, {_clock(start, tz)}–{_clock(end, tz)}"
    if issues:
        shown = "; ".join(issues[:3]) + ("; …" if len(issues) > 3 else "")
        label += f": {shown}"
    return label


def _segments(buckets: list[_Bucket], start: datetime, tz: tzinfo, window: timedelta) -> tuple[Segment, ...]:
    runs: list[list[_Bucket]] = []
    for bucket in buckets:
        if runs and runs[-1][-1].status == bucket.status:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    segments = []
    for run in runs:
        run_start, run_end, status = run[0].start, run[-1].end, run[0].status
        issues: list[str] = []
        for bucket in run:
            issues += [issue for issue in bucket.issues if issue not in issues]
        x = _x(run_start, start, window)
        segments.append(
            Segment(
                x=x,
                width=round(_x(run_end, start, window) - x, 1),
                status=status,
                colour=STATUS_COLOURS[status],
                label=_segment_label(status, run_start, run_end, issues, tz),
                duration=run_end - run_start,
            )
        )
    return tuple(segments)


def _series(
    name: str,
    colour: str,
    buckets: list[_Bucket],
    value: Callable[[_Bucket], int],
    *,
    start: datetime,
    window: timedelta,
    lane_bottom: float,
    maximum: int,
    dashed: bool = False,
) -> Series:
    """One point per bucket with data, at the middle of its visible span; an empty bucket breaks the line."""
    runs: list[list[Point]] = []
    current: list[Point] = []
    for bucket in buckets:
        if bucket.count == 0:
            if current:
                runs.append(current)
            current = []
            continue
        middle = bucket.start + (bucket.end - bucket.start) / 2
        y = round(lane_bottom - value(bucket) / maximum * LANE_HEIGHT, 1)
        current.append(Point(_x(middle, start, window), y))
    if current:
        runs.append(current)
    return Series(name=name, colour=colour, runs=tuple(tuple(run) for run in runs), dashed=dashed)


def _value_ticks(top: float, maximum: int) -> tuple[Tick, ...]:
    values = [0, maximum // 2, maximum] if maximum >= 2 and maximum % 2 == 0 else [0, maximum]
    return tuple(Tick(position=round(top + LANE_HEIGHT - v / maximum * LANE_HEIGHT, 1), label=str(v)) for v in values)


def _minute_of_day(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


def _time_ticks(start: datetime, end: datetime, tz: tzinfo, history_range: HistoryRange) -> tuple[Tick, ...]:
    """Ticks on the display zone's clock (full hours, quarters, midnights), stepped in UTC.

    Stepping by at most an hour in UTC and keeping the moments whose local time falls on
    a tick makes a DST change show as it happened (a 25-hour day keeps its extra hour).
    """
    step = min(history_range.tick_every, timedelta(hours=1))
    step_minutes = int(step / timedelta(minutes=1))
    tick_minutes = int(history_range.tick_every / timedelta(minutes=1))
    label_minutes = int(history_range.label_every / timedelta(minutes=1))
    local = start.astimezone(tz)
    moment = local.replace(minute=local.minute - local.minute % step_minutes, second=0, microsecond=0)
    if moment < local:
        moment += step
    moment = moment.astimezone(UTC)
    ticks = []
    while moment <= end:
        minute = _minute_of_day(moment.astimezone(tz))
        if minute % tick_minutes == 0:
            labelled = minute % label_minutes == 0
            label = moment.astimezone(tz).strftime(history_range.label_format) if labelled else ""
            ticks.append(Tick(position=_x(moment, start, history_range.window), label=label))
        moment += step
    return tuple(ticks)


def _hour_ticks(start: datetime, end: datetime, tz: tzinfo) -> tuple[Tick, ...]:
    return _time_ticks(start, end, tz, RANGES["24h"])


def _percent(part: timedelta, whole: timedelta) -> int:
    return round(part / whole * 100) if whole else 0


def _summary(
    segments: Sequence[Segment], latest: Snapshot | None, end: datetime, tz: tzinfo, history_range: HistoryRange
) -> str:
    if latest is None:
        return f"No history yet: no health snapshot in the {history_range.title}."
    whole = sum((segment.duration for segment in segments), timedelta())
    shares = {status: timedelta() for status in STATUS_LABELS}
    for segment in segments:
        shares[segment.status] += segment.duration
    time_shares = ", ".join(
        f"{STATUS_LABELS[status].lower()} {_percent(share, whole)}%" for status, share in shares.items()
    )
    return (
        f"{history_range.title.capitalize()} to {_clock(end, tz)}: {time_shares} of the time. "
        f"Latest ({_clock(latest.taken_at, tz)}, {latest.status}): queue depth {latest.queue_depth}, "
        f"covered {latest.covered} of {latest.total}, disabled {latest.disabled}."
    )


def history_chart(
    snapshots: Sequence[Snapshot], *, now: datetime, tz: tzinfo = UTC, history_range: HistoryRange | None = None
) -> HistoryChart:
    """The health history chart of ``history_range`` (24 h by default) ending at ``now``, times labelled in ``tz``.

    Snapshots outside the window are ignored; gaps (buckets without a snapshot)
    show as "no data" in the band and break the lines.
    """
    history_range = history_range or RANGES["24h"]
    window = history_range.window
    end = now.astimezone(UTC)
    start = end - window
    shown = [snapshot for snapshot in snapshots if start < snapshot.taken_at <= end]
    latest = max(shown, key=lambda snapshot: snapshot.taken_at, default=None)
    buckets = _buckets(shown, start, end, history_range.bucket)

    lanes = []
    top = TOP + BAND_HEIGHT
    specs = [
        (
            "Queue depth",
            f"{latest.queue_depth}" if latest else "",
            [("Queue depth", DEPTH_COLOUR, lambda b: b.queue_depth, False)],
        ),
        (
            "Backups covered",
            f"{latest.covered} of {latest.total}" if latest else "",
            [
                ("Covered", COVERED_COLOUR, lambda b: b.covered, False),
                ("Total plannings", TOTAL_COLOUR, lambda b: b.total, True),
            ],
        ),
        (
            "Disabled plannings",
            f"{latest.disabled}" if latest else "",
            [("Disabled", DISABLED_COLOUR, lambda b: b.disabled, False)],
        ),
    ]
    for title, latest_figure, series_specs in specs:
        top += LANE_TITLE_SPACE
        peak = max((value(bucket) for _, _, value, _ in series_specs for bucket in buckets if bucket.count), default=0)
        maximum = nice_ceiling(peak)
        series = tuple(
            _series(name, colour, buckets, value, start=start, window=window, lane_bottom=top + LANE_HEIGHT,
                    maximum=maximum, dashed=dashed)
            for name, colour, value, dashed in series_specs
        )  # fmt: skip
        lanes.append(
            Lane(title=title, top=top, height=LANE_HEIGHT, maximum=maximum, ticks=_value_ticks(top, maximum),
                 series=series, latest=latest_figure)
        )  # fmt: skip
        top += LANE_HEIGHT

    segments = _segments(buckets, start, tz, window)
    legend = tuple(LegendEntry(STATUS_LABELS[s], STATUS_COLOURS[s], "band") for s in STATUS_LABELS) + tuple(
        LegendEntry(series.name, series.colour, "dashed" if series.dashed else "line")
        for lane in lanes
        for series in lane.series
    )
    zone = end.astimezone(tz).tzname() or str(tz)
    return HistoryChart(
        start=start,
        end=end,
        timezone_name=zone,
        snapshot_count=len(shown),
        title=f"Plannings health, {history_range.title} ({zone})",
        summary=_summary(segments, latest, end, tz, history_range),
        segments=segments,
        lanes=tuple(lanes),
        hour_ticks=_time_ticks(start, end, tz, history_range),
        legend=legend,
        axis_y=top,
        history_range=history_range,
    )
