"""A bench's figures: the median of its rounds with their range, printed and written as JSON.

Each bench builds ``Figure``s from the rounds it measured, prints them with ``table`` and
writes them with ``record`` to ``var/bench/<bench>.json`` (with the commit and the machine),
so two commits can be compared and the README's Performance table regenerated
(``python -m bench.report``). A ratio is the ratio of the two medians printed beside it;
its range is the lowest and highest ratio of one round's figures.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT

OUT_DIR = ROOT / "var" / "bench"


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` (a median, or a ratio of medians) and the rounds behind it."""

    name: str
    value: float
    unit: str
    rounds: tuple[float, ...]
    goal_min: float | None = None
    goal_max: float | None = None
    note: str = ""

    @property
    def goal(self) -> str:
        if self.goal_min is not None:
            return f">= {self.goal_min:g} {self.unit}"
        if self.goal_max is not None:
            return f"<= {self.goal_max:g} {self.unit}"
        return ""

    @property
    def met(self) -> bool | None:
        if self.goal_min is not None:
            return self.value >= self.goal_min
        if self.goal_max is not None:
            return self.value <= self.goal_max
        return None

    @property
    def low(self) -> float:
        return min(self.rounds)

    @property
    def high(self) -> float:
        return max(self.rounds)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "goal": self.goal,
            "met": self.met,
            "rounds": list(self.rounds),
            "low": self.low,
            "high": self.high,
            "note": self.note,
        }


def measured(name: str, rounds: Sequence[float], unit: str, **goal) -> Figure:
    """The median of ``rounds`` (one value per round)."""
    if not rounds:
        raise ValueError(f"{name}: no rounds")
    return Figure(name, statistics.median(rounds), unit, tuple(rounds), **goal)


def ratio(name: str, numerator: Figure, denominator: Figure, **goal) -> Figure:
    """numerator / denominator: the ratio of the medians printed for them, so a reader can
    check it; the rounds are each round's own ratio (numerator and denominator measured
    in the same round), which give the range."""
    if len(numerator.rounds) != len(denominator.rounds):
        raise ValueError(f"{name}: {len(numerator.rounds)} rounds against {len(denominator.rounds)}")
    rounds = tuple(n / d for n, d in zip(numerator.rounds, denominator.rounds, strict=True))
    note = f"{numerator.name} / {denominator.name}: {numerator.value:.4g} / {denominator.value:.4g}"
    return Figure(name, numerator.value / denominator.value, "x", rounds, note=note, **goal)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a plain-text table: median, range over rounds, goal, met."""
    width = max(len(f.name) for f in figures)
    lines = []
    for f in figures:
        met = {True: "met", False: "NOT met", None: ""}[f.met]
        spread = f"[{_fmt(f.low)}-{_fmt(f.high)}, {len(f.rounds)} rounds]"
        lines.append(f"{f.name:<{width}}  {_fmt(f.value):>8} {f.unit:<12} {spread:<26} {f.goal:<16} {met}".rstrip())
    return "\n".join(lines)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# Read when the bench starts (it imports this module first): the code measured, even if a
# commit lands while a long bench runs.
STARTED_AT_COMMIT = _commit()


def machine() -> dict:
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
    }


def record(bench: str, figures: Sequence[Figure], *, settings: dict | None = None, out_dir: Path | None = None) -> Path:
    """Write ``<out_dir>/<bench>.json``; returns its path."""
    out_dir = out_dir or OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{bench}.json"
    document = {
        "bench": bench,
        "commit": STARTED_AT_COMMIT,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings or {},
        "figures": [f.as_json() for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
