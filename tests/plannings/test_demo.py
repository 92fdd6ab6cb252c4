"""``make run``'s demo: the catalog points at the local feed server, whose mix fails on purpose."""

import json
from collections import Counter

from scripts.demo_catalog import write_demo_catalog
from scripts.servers.feeds import demo_behaviour


def _leaves(node):
    if "children" in node:
        for child in node["children"]:
            yield from _leaves(child)
    else:
        yield node


def test_the_demo_catalog_is_the_real_tree_with_local_feed_urls(tmp_path):
    assert write_demo_catalog(tmp_path, "http://127.0.0.1:8001") == 25
    enscr = json.loads((tmp_path / "enscr.json").read_text())
    leaf = next(_leaves(enscr))
    assert leaf["url"] == "http://127.0.0.1:8001/demo/enscr.cycleingenieur.1iereanneeci.elevesing1iereannee.ics"
    total = sum(1 for path in tmp_path.glob("*.json") for _ in _leaves(json.loads(path.read_text())))
    assert total == 4765  # every leaf of the real catalog


def test_the_demo_mix_is_mostly_good_feeds_with_every_kind_of_failure(tmp_path):
    write_demo_catalog(tmp_path, "http://x")
    ids = [
        leaf["url"].rsplit("/", 1)[1][:-4]
        for p in tmp_path.glob("*.json")
        for leaf in _leaves(json.loads(p.read_text()))
    ]
    mix = Counter(demo_behaviour(full_id) for full_id in ids)
    assert set(mix) == {"ok", "status/404", "slow", "html", "garbage", "status/500", "empty"}
    assert 0.8 < mix["ok"] / len(ids) < 0.9


def test_the_feed_server_answers_demo_paths_by_their_behaviour(feed_host):
    import httpx

    ok_id = next(f"s.p{i}" for i in range(1000) if demo_behaviour(f"s.p{i}") == "ok")
    gone_id = next(f"s.p{i}" for i in range(1000) if demo_behaviour(f"s.p{i}") == "status/404")
    assert httpx.get(f"{feed_host.url}/demo/{ok_id}.ics").text.startswith("BEGIN:VCALENDAR")
    assert httpx.get(f"{feed_host.url}/demo/{gone_id}.ics").status_code == 404
