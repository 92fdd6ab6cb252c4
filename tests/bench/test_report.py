"""The README's Performance table is the published run's: ``docs/bench/*.json``, written by
``python -m bench.report --publish`` after ``make bench``, one file per bench ``make bench`` runs."""

import json
import re

import pytest

from bench import figures
from bench.common import ROOT
from bench.report import BEGIN, END, PUBLISHED_DIR, README, publish, report, with_table


def _readme_table(text: str) -> str:
    return text.split(BEGIN)[1].split(END)[0].strip("\n")


def test_the_readme_table_is_exactly_the_published_run():
    assert sorted(PUBLISHED_DIR.glob("*.json")), "no published run in docs/bench/"
    assert _readme_table(README.read_text(encoding="utf-8")) == report(PUBLISHED_DIR)


def test_the_published_run_has_a_file_for_every_bench_make_bench_runs():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    expected = set()
    for line in recipe.splitlines():
        if match := re.search(r"-m bench\.(\w+)(.*)", line):
            module, arguments = match.groups()
            if module == "report":
                continue
            named = re.search(r"--record (\w+)", arguments)
            expected.add(named.group(1) if named else module)
    published = {path.stem for path in PUBLISHED_DIR.glob("*.json")}
    assert expected and expected <= published, f"not in docs/bench/: {sorted(expected - published)}"
    for path in PUBLISHED_DIR.glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["bench"] == path.stem and document["figures"]
        assert len(document["commit"].removesuffix("+dirty")) == 40


def test_publishing_replaces_the_run_and_regenerates_only_the_block(tmp_path):
    run, published, readme = tmp_path / "run", tmp_path / "published", tmp_path / "README.md"
    lean = figures.measured("lean, 40 events", [0.30, 0.33, 0.35], "ms")
    icaljs = figures.measured("ical.js, 40 events", [0.45, 0.44, 0.50], "ms")
    figures.record("parse_cost", [lean, icaljs, figures.ratio("lean / ical.js", lean, icaljs, goal_max=1.0)],
                   out_dir=run)  # fmt: skip
    published.mkdir()
    (published / "gone.json").write_text("{}")
    readme.write_text(f"# Title\n\nbefore\n{BEGIN}\n| stale |\n{END}\nafter\n", encoding="utf-8")

    publish(run, published=published, readme=readme)
    text = readme.read_text(encoding="utf-8")
    assert [path.name for path in published.glob("*.json")] == ["parse_cost.json"]
    assert text.startswith("# Title\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "| stale |" not in text
    assert "| parse_cost | lean / ical.js | 0.733 x |" in _readme_table(text)

    publish(run, published=published, readme=readme)  # twice: the same README
    assert readme.read_text(encoding="utf-8") == text


def test_a_readme_without_its_block_is_refused():
    with pytest.raises(ValueError, match="one block"):
        with_table("# no table here\n", "| x |")
    with pytest.raises(ValueError, match="one block"):
        with_table(f"{END}\n{BEGIN}\n", "| x |")
