"""Parse cost per feed of 40, 400 and 5,000 events: the lean reader, icalendar, and ical.js.

    python -m bench.parse_cost

ical.js (upstream's parser) is installed from the npm registry into bench/node/ on
first use and run under node on the very same files; all three in one run.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import p50_ms
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
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for size in SIZES:
            path = Path(tmp) / f"feed-{size}.ics"
            path.write_text(ics_calendar(f"bench-{size}", size), encoding="utf-8")
            paths.append(path)
        node = icaljs_p50(paths)
        print(f"{'events':>7} {'lean':>10} {'icalendar':>11} {'ical.js':>9} {'lean / ical.js':>15}")
        for size, path in zip(SIZES, paths, strict=True):
            text = path.read_text(encoding="utf-8")
            assert ics.parse_events_lean(text, PARIS) == ics.parse_events_reference(text, PARIS)
            repeat = max(5, 4000 // size)
            lean = p50_ms(lambda text=text: ics.parse_events_lean(text, PARIS), repeat=repeat)
            reference = p50_ms(lambda text=text: ics.parse_events_reference(text, PARIS), repeat=max(3, repeat // 10))
            icaljs = node[str(path)]
            print(f"{size:>7} {lean:>7.2f} ms {reference:>8.1f} ms {icaljs:>6.2f} ms {lean / icaljs:>14.2f}x")


if __name__ == "__main__":
    main()
