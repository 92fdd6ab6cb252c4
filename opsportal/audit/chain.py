"""The trail's hash chain, pure: a row's canonical text and its hash (no database, no model).

Each row's ``row_hash`` is the SHA-256 of its canonical serialisation, which holds its id, its content
and ``prev_hash`` (the previous row's ``row_hash``; empty for the first row ever written). Editing a row
breaks its own hash; inserting or removing one breaks the link of the row after it. The migrations
import this module too, so it must stay free of models.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

# The fields a row's hash covers, in the canonical text's order (keys are sorted anyway).
HASHED = (
    "id",
    "created_at",
    "actor",
    "via",
    "token_name",
    "action",
    "target_type",
    "targets",
    "target_count",
    "changed",
    "outcome",
    "detail",
    "changes",
    "prev_hash",
)
PRUNE_ACTION = "audit.prune"
# A prune row's detail names the hash the first row it kept points back to.
ANCHOR = re.compile(r"anchor sha256 ([0-9a-f]{64})")


def _instant(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


def canonical(values: dict) -> str:
    """One row's content as text, the same whichever database it was read from (sorted keys, UTC times)."""
    content = {name: values[name] for name in HASHED}
    content["created_at"] = _instant(content["created_at"])
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(values: dict) -> str:
    return hashlib.sha256(canonical(values).encode("utf-8")).hexdigest()


def prune_detail(*, count: int, before: datetime, days: int, first_kept: int, anchor: str) -> str:
    return (
        f"{count} rows created before {_instant(before)} removed (retention {days} days); "
        f"the chain now starts at row {first_kept}, anchor sha256 {anchor}"
    )


def prune_anchor(detail: str) -> str | None:
    found = ANCHOR.search(detail)
    return found.group(1) if found else None
