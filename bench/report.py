"""The README's Performance table from the last ``make bench`` run: ``var/bench/*.json``.

    python -m bench.report [var/bench]

One Markdown row per figure that has a goal (``--all``: every figure): the median, the
range over rounds, the goal and whether it was met, with each file's commit and machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.figures import OUT_DIR


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"


def report(folder: Path, *, every: bool = False) -> str:
    lines = ["| bench | figure | median | range (rounds) | goal | met? |", "|---|---|---|---|---|---|"]
    sources = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        machine = document["machine"]
        sources.append(
            f"`{document['bench']}`: commit {document['commit'][:12]}, {document['when']}, "
            f"{machine['cpus']} CPUs, load {machine['loadavg'][0]:.1f}"
        )
        for f in document["figures"]:
            if not (every or f["goal"]):
                continue
            met = {True: "yes", False: "**no**", None: ""}[f["met"]]
            spread = f"{_fmt(f['low'])}–{_fmt(f['high'])} ({len(f['rounds'])})"
            value = f"{_fmt(f['value'])} {f['unit']}"
            lines.append(f"| {document['bench']} | {f['name']} | {value} | {spread} | {f['goal']} | {met} |")
    return "\n".join(lines + [""] + [f"- {source}" for source in sources])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=OUT_DIR)
    parser.add_argument("--all", action="store_true", help="every figure, not only those with a goal")
    args = parser.parse_args()
    print(report(args.folder, every=args.all))


if __name__ == "__main__":
    main()
