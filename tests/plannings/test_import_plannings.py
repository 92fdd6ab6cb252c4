"""``manage.py import_plannings``: the real catalog, invalid files, duplicates, removals, re-imports."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from plannings.models import Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState
from tests import factories

REAL_CATALOG = Path(__file__).resolve().parents[2] / "data" / "catalog"
pytestmark = pytest.mark.django_db


def _import(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_plannings", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _school(title="School", children=None):
    return {"title": title, "children": children if children is not None else []}


def _leaf(node_id, url=None, title=None):
    return {"id": node_id, "title": title or node_id, "url": url or f"https://ics.test/{node_id}.ics"}


def _group(node_id, *children):
    return {"id": node_id, "title": node_id, "children": list(children)}


def _write(directory: Path, slug: str, tree) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug}.json"
    path.write_text(json.dumps(tree) if not isinstance(tree, str) else tree, encoding="utf-8")
    return path


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


def test_the_real_catalog_imports_and_an_unchanged_reimport_writes_nothing():
    out, err = _import(REAL_CATALOG)
    assert "added 4765, updated 0, unchanged 0, removed 0, skipped 0" in out
    assert "[25/25]" in out
    assert err == ""
    assert Planning.objects.count() == 4765
    leaf = Planning.objects.get(full_id="enscr.cycleingenieur.1iereanneeci.elevesing1iereannee")
    assert leaf.planning_id == "enscr"
    assert leaf.title == "Elèves Ing. 1ière année"
    assert leaf.url.startswith("https://planning.ensc-rennes.fr/")

    with CaptureQueriesContext(connection) as queries:
        out, _ = _import(REAL_CATALOG)
    assert "added 0, updated 0, unchanged 4765, removed 0, skipped 0" in out
    assert _writes(queries.captured_queries) == []


def test_an_invalid_file_is_reported_with_its_json_path_and_nothing_is_written(tmp_path):
    _write(tmp_path, "good", _school(children=[_leaf("a")]))
    bad = _write(tmp_path, "bad", _school(children=[_group("g", _leaf("ok"), {"id": "x", "title": "X"})]))
    with pytest.raises(CommandError, match="nothing was written"):
        _import(tmp_path)
    assert Planning.objects.count() == 0
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_plannings", str(tmp_path), stdout=StringIO(), stderr=err)
    assert f"{bad}: $.children[0].children[1]: a node needs exactly one of 'url'" in err.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", "$: expected an object, got list"),
        (json.dumps({"children": []}), "$.title: missing or not a string"),
        (json.dumps(_school(children={"id": "a"})), "$.children: expected a list, got dict"),
        (
            json.dumps(_school(children=[_leaf("a", url="ftp://x")])),
            "$.children[0].url: expected an http(s) URL",
        ),
        (json.dumps(_school(children=[_leaf("a.b")])), "$.children[0].id: 'a.b' contains '.'"),
        (json.dumps(_school(children=[{"title": "t", "url": "https://x"}])), "$.children[0].id: missing"),
        (json.dumps(_school(children=[_leaf("a" * 300)])), "$.children[0]: full id is over 255 characters"),
    ],
)
def test_each_kind_of_bad_node_is_named(tmp_path, content, message):
    path = _write(tmp_path, "school", content)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_plannings", str(path), stdout=StringIO(), stderr=err)
    assert message in err.getvalue()
    assert Planning.objects.count() == 0


def test_a_rejected_import_leaves_the_previous_catalog_intact(tmp_path):
    _write(tmp_path, "s", _school(children=[_leaf("a"), _leaf("b")]))
    _import(tmp_path)
    _write(tmp_path, "s", _school(children=[_leaf("a", title="renamed")]))
    _write(tmp_path, "t", "{oops")
    with pytest.raises(CommandError):
        _import(tmp_path)
    assert sorted(Planning.objects.values_list("full_id", "title")) == [("s.a", "a"), ("s.b", "b")]


def test_a_duplicate_full_id_is_skipped_with_a_warning_and_the_first_wins(tmp_path):
    first = _leaf("dup", url="https://ics.test/first.ics")
    second = _leaf("dup", url="https://ics.test/second.ics")
    _write(tmp_path, "s", _school(children=[_group("g", first, second), _leaf("other")]))
    out, err = _import(tmp_path)
    assert "added 2, updated 0, unchanged 0, removed 0, skipped 1" in out
    assert "duplicate full id s.g.dup at s.json $.children[0].children[1] skipped" in err
    assert Planning.objects.get(full_id="s.g.dup").url == "https://ics.test/first.ics"


def test_a_changed_leaf_is_updated_and_only_its_updated_at_moves(tmp_path):
    _write(tmp_path, "s", _school(children=[_leaf("a"), _leaf("b")]))
    _import(tmp_path)
    before = dict(Planning.objects.values_list("full_id", "updated_at"))
    _write(tmp_path, "s", _school(children=[_leaf("a", url="https://ics.test/moved.ics"), _leaf("b")]))
    out, _ = _import(tmp_path)
    assert "added 0, updated 1, unchanged 1, removed 0, skipped 0" in out
    after = dict(Planning.objects.values_list("full_id", "updated_at"))
    assert after["s.a"] > before["s.a"]
    assert after["s.b"] == before["s.b"]
    assert Planning.objects.get(full_id="s.a").url == "https://ics.test/moved.ics"


def test_a_school_removed_from_the_catalog_is_deleted_with_its_backup_queue_and_state(tmp_path):
    _write(tmp_path, "keep", _school(children=[_leaf("a")]))
    gone_file = _write(tmp_path, "gone", _school(children=[_leaf("x"), _leaf("y")]))
    _import(tmp_path)
    gone = Planning.objects.get(full_id="gone.x")
    factories.backup_make(gone)
    factories.queue_item_make(gone)
    factories.state_make(gone, consecutive_failures=3)
    gone_file.unlink()
    out, _ = _import(tmp_path)
    assert "added 0, updated 0, unchanged 1, removed 2, skipped 0" in out
    assert list(Planning.objects.values_list("full_id", flat=True)) == ["keep.a"]
    assert not PlanningBackup.objects.exists()
    assert not PlanningRefreshQueue.objects.exists()
    assert not PlanningRefreshState.objects.exists()


def test_a_single_file_only_speaks_for_its_own_school(tmp_path):
    _write(tmp_path / "all", "one", _school(children=[_leaf("a")]))
    _write(tmp_path / "all", "two", _school(children=[_leaf("b"), _leaf("c")]))
    _import(tmp_path / "all")
    single = _write(tmp_path / "update", "two", _school(children=[_leaf("b")]))
    out, _ = _import(single)
    assert "added 0, updated 0, unchanged 1, removed 1, skipped 0" in out
    assert sorted(Planning.objects.values_list("full_id", flat=True)) == ["one.a", "two.b"]


def test_a_dry_run_reports_but_writes_nothing(tmp_path):
    _write(tmp_path, "s", _school(children=[_leaf("a")]))
    out, _ = _import(tmp_path, "--dry-run")
    assert "dry run, nothing written: would have added 1" in out
    assert Planning.objects.count() == 0


def test_a_missing_path_or_an_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError):
        _import(tmp_path / "nope")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_plannings", str(tmp_path), stdout=StringIO(), stderr=err)
    assert "no .json catalog files in this directory" in err.getvalue()
