"""Parse cost per feed of 40, 400 and 5,000 events: the lean reader, icalendar, and ical.js.

    python -m bench.parse_cost [--rounds 3]

ical.js (upstream's parser) is installed from the npm registry into bench/node/ on
first use and run under node on the very same files; all three in each round, the
median of the rounds and their range printed and written to var/bench/parse_cost.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import p50_ms
from bench.figures import measured, ratio, record, table
from plannings import ics
from scripts.servers.feeds import ics_calendar

NODE_DIR = Path(__file__).resolve().parent / "node"
SIZES = (40, 400, 5000)
PARIS = ZoneInfo("Europe/Paris")


def icaljs_p50(paths: list[Path]) -> dict[str, float]:
    if not (NODE_DIR / "node_modules" / "ical.js").exists():
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    out = subprocess.run(
        ["node", "parse_ics.mjs", *map(str, paths)], cwd=NODE_DIR, check=True, capture_output=True, text=True
    ).stdout
    return {path: result["p50_ms"] for path, result in json.loads(out).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="runs of all three parsers; medians are reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths, texts = [], []
        for size in SIZES:
            path = Path(tmp) / f"feed-{size}.ics"
            path.write_text(ics_calendar(f"bench-{size}", size), encoding="utf-8")
            paths.append(path)
            texts.append(path.read_text(encoding="utf-8"))
            assert ics.parse_events_lean(texts[-1], PARIS) == ics.parse_events_reference(texts[-1], PARIS)
        rounds = {(kind, size): [] for kind in ("lean", "icalendar", "ical.js") for size in SIZES}
        # The machine is noisy: each round runs all three parsers on every size, one after another.
        for _ in range(args.rounds):
            node = icaljs_p50(paths)
            for size, path, text in zip(SIZES, paths, texts, strict=True):
                repeat = max(5, 4000 // size)
                rounds["lean", size].append(p50_ms(lambda text=text: ics.parse_events_lean(text, PARIS), repeat=repeat))
                reference = p50_ms(
                    lambda text=text: ics.parse_events_reference(text, PARIS), repeat=max(3, repeat // 10)
                )
                rounds["icalendar", size].append(reference)
                rounds["ical.js", size].append(node[str(path)])
        result = []
        for size in SIZES:
            lean, icalendar_, icaljs = (measured(f"{kind}, {size} events", rounds[kind, size], "ms")
                                        for kind in ("lean", "icalendar", "ical.js"))  # fmt: skip
            result += [lean, icalendar_, icaljs, ratio(f"lean / ical.js, {size} events", lean, icaljs, goal_max=1.0)]
        print(table(result))
        print(f"written to {record('parse_cost', result, settings={'rounds': args.rounds, 'sizes': list(SIZES)})}")


if __name__ == "__main__":
    main()
