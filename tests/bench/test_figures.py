"""The bench's figures: a printed ratio is the ratio of the medians printed beside it, and
every figure reaches var/bench/<bench>.json with its rounds, goal, commit and machine."""

import json

import pytest

from bench import figures


def test_a_ratio_is_the_ratio_of_the_printed_medians_and_its_range_the_rounds_ratios():
    # The case: one round's fast "two" beside another's slow "one" made 1.76x of 653 / 456.
    one = figures.measured("one drain", [456.4, 300.0, 500.0], "plannings/s")
    two = figures.measured("two drains", [653.4, 800.0, 560.0], "plannings/s")
    scaling = figures.ratio("two / one", two, one, goal_min=1.8)
    assert (one.value, two.value) == (456.4, 653.4)
    assert scaling.value == pytest.approx(653.4 / 456.4)
    assert scaling.rounds == pytest.approx((653.4 / 456.4, 800.0 / 300.0, 560.0 / 500.0))
    assert (scaling.low, scaling.high) == pytest.approx((560.0 / 500.0, 800.0 / 300.0))
    assert scaling.met is False
    assert "653.4 / 456.4" in scaling.note


def test_rounds_measured_apart_cannot_be_paired():
    with pytest.raises(ValueError, match="3 rounds against 2"):
        figures.ratio("r", figures.measured("a", [1, 2, 3], "s"), figures.measured("b", [1, 2], "s"))


@pytest.mark.parametrize(
    ("goal", "value", "met", "text"),
    [({"goal_min": 0.8}, 0.81, True, ">= 0.8 x"), ({"goal_min": 0.8}, 0.79, False, ">= 0.8 x"),
     ({"goal_max": 1.0}, 1.01, False, "<= 1 x"), ({}, 5.0, None, "")],
)  # fmt: skip
def test_a_goal_is_met_or_not(goal, value, met, text):
    figure = figures.Figure("f", value, "x", (value,), **goal)
    assert (figure.met, figure.goal) == (met, text)


def test_the_table_prints_median_range_goal_and_verdict():
    printed = figures.table([figures.measured("lean / ical.js, 40 events", [0.7, 0.9, 1.2], "x", goal_max=1.0)])
    assert printed.split() == ["lean", "/", "ical.js,", "40", "events", "0.9", "x", "[0.7-1.2,", "3", "rounds]",
                               "<=", "1", "x", "met"]  # fmt: skip


def test_the_figures_are_written_as_json_with_commit_and_machine(tmp_path):
    floor = figures.measured("floor", [600.0, 650.0, 700.0], "plannings/s")
    one = figures.measured("one", [500.0, 520.0, 480.0], "plannings/s")
    path = figures.record("refresh_throughput", [floor, one, figures.ratio("one / floor", one, floor, goal_min=0.8)],
                          settings={"plannings": 2000}, out_dir=tmp_path)  # fmt: skip
    document = json.loads(path.read_text())
    assert path == tmp_path / "refresh_throughput.json"
    assert document["bench"] == "refresh_throughput"
    assert document["settings"] == {"plannings": 2000}
    assert len(document["commit"].removesuffix("+dirty")) == 40
    assert document["machine"]["cpus"] >= 1 and document["machine"]["python"].startswith("3.11")
    ratio = document["figures"][2]
    assert ratio["value"] == pytest.approx(500.0 / 650.0)
    assert (ratio["goal"], ratio["met"], ratio["unit"]) == (">= 0.8 x", False, "x")
    assert document["figures"][0] == {
        "name": "floor", "value": 650.0, "unit": "plannings/s", "goal": "", "met": None,
        "rounds": [600.0, 650.0, 700.0], "low": 600.0, "high": 700.0, "note": "",
    }  # fmt: skip


def test_the_report_has_a_row_per_figure_with_a_goal(tmp_path):
    from bench.report import report

    lean = figures.measured("lean, 40 events", [0.30, 0.33, 0.35], "ms")
    icaljs = figures.measured("ical.js, 40 events", [0.45, 0.44, 0.50], "ms")
    figures.record("parse_cost", [lean, icaljs, figures.ratio("lean / ical.js", lean, icaljs, goal_max=1.0)],
                   out_dir=tmp_path)  # fmt: skip
    rows = [line for line in report(tmp_path).splitlines() if line.startswith("| parse_cost")]
    assert rows == [f"| parse_cost | lean / ical.js | {0.33 / 0.45:.3g} x | {0.30 / 0.45:.3g}–{0.33 / 0.44:.3g} (3) "
                    "| <= 1 x | yes |"]  # fmt: skip
    assert len(report(tmp_path, every=True).splitlines()) > len(report(tmp_path).splitlines())


def _printed(figure_table: str) -> dict[str, float]:
    """Each printed row's name and the number printed as its median."""
    rows = {}
    for line in figure_table.splitlines():
        name, rest = line.split("  ", 1)
        rows[name.strip()] = float(rest.split()[0])
    return rows


def test_every_printed_ratio_is_the_ratio_of_the_medians_printed_beside_it():
    # Rounds chosen so that the median of the rounds' ratios (0.5) is not the ratio of the medians (0.75).
    shared = figures.measured("shared", [1.0, 10.0, 3.0], "plannings/s")
    unshared = figures.measured("unshared", [2.0, 4.0, 6.0], "plannings/s")
    printed = _printed(figures.table([shared, unshared, figures.ratio("shared / unshared", shared, unshared)]))
    assert printed["shared / unshared"] == pytest.approx(printed["shared"] / printed["unshared"], rel=5e-3)


def test_the_throughput_bench_prints_its_shared_limit_ratio_from_the_medians_it_prints():
    from bench.refresh_throughput import shared_figures

    printed = _printed(figures.table(shared_figures({"shared": [1.0, 10.0, 3.0], "unshared": [2.0, 4.0, 6.0]})))
    (shared, unshared, ratio) = printed.values()
    assert ratio == pytest.approx(shared / unshared, rel=5e-3) == pytest.approx(0.75, rel=5e-3)
