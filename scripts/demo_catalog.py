"""Write the demo catalog: the real catalog's tree, every feed URL pointed at the local feed server.

    python -m scripts.demo_catalog OUT_DIR --feeds http://127.0.0.1:8001

The feed server's ``/demo/`` path answers most feeds with a calendar and some, chosen
by planning id, with each kind of failure, so the demo shows real refresh activity.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalog"


def _rewrite(node: dict, prefix: str, feeds: str) -> dict:
    full_id = f"{prefix}.{node['id']}"
    if "children" in node:
        return {**node, "children": [_rewrite(child, full_id, feeds) for child in node["children"]]}
    return {**node, "url": f"{feeds}/demo/{full_id}.ics"}


def write_demo_catalog(out_dir: Path, feeds: str) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for source in sorted(CATALOG.glob("*.json")):
        tree = json.loads(source.read_text(encoding="utf-8"))
        tree["children"] = [_rewrite(child, source.stem, feeds.rstrip("/")) for child in tree["children"]]
        (out_dir / source.name).write_text(json.dumps(tree, ensure_ascii=False, indent=1), encoding="utf-8")
        written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--feeds", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    print(f"wrote {write_demo_catalog(args.out_dir, args.feeds)} catalog files to {args.out_dir}")


if __name__ == "__main__":
    main()
