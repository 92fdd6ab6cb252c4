"""Write the demo catalog: the real catalog's tree, every feed URL pointed at the local feed server.

    python -m scripts.demo_catalog OUT_DIR --feeds http://127.0.0.1:8001

The feed server's ``/demo/`` path answers most feeds with a calendar and some, chosen
by planning id, with each kind of failure, so the demo shows real refresh activity.
``write_demo_deploy_info`` writes the demo's deploy_info.json (``scripts/run_portal.py`` calls it).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
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


DEMO_DEPLOY_INFO = "demo-deploy_info.json"


def write_demo_deploy_info(path: Path, *, now: datetime, commit_sha: str, deployed_by: str) -> dict:
    """Write the deploy_info.json that ``make run``'s Deploy panel reads, in the shape the post-deploy hook writes.

    ``{current_tag, previous_tag, commit_sha, deployed_by, deployed_at}`` (docs: walletops spec,
    ``walletops/deploy_info.py``): this checkout's commit, "deployed" when the demo starts.
    """
    info = {
        "current_tag": f"demo-{now.astimezone(UTC):%Y.%m.%d}",
        "previous_tag": None,
        "commit_sha": commit_sha,
        "deployed_by": deployed_by,
        "deployed_at": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info
