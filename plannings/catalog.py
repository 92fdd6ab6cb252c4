"""Catalog import (plannings spec §2): JSON school trees -> ``plannings`` rows.

Reading is separate from writing: ``catalog_read`` validates every file and
returns the leaves (or every problem found), ``catalog_apply`` writes them in
one transaction. A run with any invalid file writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from plannings.models import Planning

FULL_ID_MAX_LENGTH = 255


class CatalogError(Exception):
    """The catalog cannot be imported; ``problems`` lists every reason, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class CatalogLeaf:
    full_id: str
    planning_id: str
    url: str
    title: str


@dataclass
class CatalogContents:
    files: list[Path]
    leaves: list[CatalogLeaf] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0
    # The plannings ids (file slugs) this read covers: deletion is limited to them
    # when a single file is imported.
    slugs: set[str] = field(default_factory=set)
    whole_catalog: bool = True


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int
    removed: int
    skipped: int

    def __str__(self) -> str:
        return (
            f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, skipped {self.skipped}"
        )


def _catalog_files(path: Path) -> tuple[list[Path], bool]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise CatalogError([f"{path}: no .json catalog files in this directory"])
        return files, True
    if path.is_file():
        return [path], False
    raise CatalogError([f"{path}: no such file or directory"])


def _walk(node: Any, json_path: str, id_path: list[str], problems: list[str]) -> Iterator[tuple]:
    """Yield ``(id_path, url, title, json_path)`` per leaf below ``node``; record problems."""
    if not isinstance(node, dict):
        problems.append(f"{json_path}: expected an object, got {type(node).__name__}")
        return
    node_id = node.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        problems.append(f"{json_path}.id: missing or not a non-empty string")
        return
    if "." in node_id:
        problems.append(f"{json_path}.id: {node_id!r} contains '.', the full-id separator")
        return
    title = node.get("title")
    if not isinstance(title, str):
        problems.append(f"{json_path}.title: missing or not a string")
        return
    has_url, has_children = "url" in node, "children" in node
    if has_url == has_children:
        problems.append(f"{json_path}: a node needs exactly one of 'url' (a leaf) or 'children'")
        return
    if has_url:
        url = node["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"{json_path}.url: expected an http(s) URL, got {url!r}")
            return
        yield [*id_path, node_id], url, title, json_path
        return
    yield from _children(node["children"], f"{json_path}.children", [*id_path, node_id], problems)


def _children(children: Any, json_path: str, id_path: list[str], problems: list[str]) -> Iterator[tuple]:
    if not isinstance(children, list):
        problems.append(f"{json_path}: expected a list, got {type(children).__name__}")
        return
    for index, child in enumerate(children):
        yield from _walk(child, f"{json_path}[{index}]", id_path, problems)


def _read_file(path: Path, contents: CatalogContents, seen: dict[str, str], problems: list[str]) -> None:
    slug = path.stem
    try:
        tree = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
        return
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    file_problems: list[str] = []
    if not isinstance(tree, dict):
        file_problems.append(f"$: expected an object, got {type(tree).__name__}")
    elif not isinstance(tree.get("title"), str):
        file_problems.append("$.title: missing or not a string")
    elif "group" in tree and not isinstance(tree["group"], str):
        file_problems.append("$.group: not a string")
    else:
        for ids, url, title, json_path in _children(tree.get("children"), "$.children", [slug], file_problems):
            full_id = ".".join(ids)
            if len(full_id) > FULL_ID_MAX_LENGTH:
                file_problems.append(f"{json_path}: full id is over {FULL_ID_MAX_LENGTH} characters")
                continue
            where = f"{path.name} {json_path}"
            if full_id in seen:
                contents.warnings.append(f"duplicate full id {full_id} at {where} skipped (first at {seen[full_id]})")
                contents.skipped += 1
                continue
            seen[full_id] = where
            contents.leaves.append(CatalogLeaf(full_id=full_id, planning_id=slug, url=url, title=title))
    problems.extend(f"{path}: {problem}" for problem in file_problems)
    contents.slugs.add(slug)


def catalog_read(path: Path, *, progress: Callable[[int, int, Path], None] | None = None) -> CatalogContents:
    """Read and validate a catalog directory or file; raise CatalogError listing every problem."""
    files, whole = _catalog_files(path)
    contents = CatalogContents(files=files, whole_catalog=whole)
    seen: dict[str, str] = {}
    problems: list[str] = []
    for position, file in enumerate(files, start=1):
        _read_file(file, contents, seen, problems)
        if progress:
            progress(position, len(files), file)
    if problems:
        raise CatalogError(problems)
    return contents


def catalog_apply(*, contents: CatalogContents, dry_run: bool = False) -> ImportSummary:
    """Upsert the leaves and delete plannings no longer present, all in one transaction.

    ``updated_at`` moves only for rows whose planning_id, url or title changed, so
    an unchanged catalog writes nothing. A directory is the whole catalog: any
    planning not in it is removed. A single file only speaks for its own school.
    """
    now = timezone.now()
    with transaction.atomic():
        existing_rows = Planning.objects.all()
        if not contents.whole_catalog:
            existing_rows = existing_rows.filter(planning_id__in=contents.slugs)
        existing = {row["full_id"]: row for row in existing_rows.values("full_id", "planning_id", "url", "title")}
        to_add, to_update, unchanged = [], [], 0
        for leaf in contents.leaves:
            row = existing.pop(leaf.full_id, None)
            if row is None:
                to_add.append(
                    Planning(
                        full_id=leaf.full_id,
                        planning_id=leaf.planning_id,
                        url=leaf.url,
                        title=leaf.title,
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif (row["planning_id"], row["url"], row["title"]) != (leaf.planning_id, leaf.url, leaf.title):
                to_update.append(
                    Planning(
                        full_id=leaf.full_id,
                        planning_id=leaf.planning_id,
                        url=leaf.url,
                        title=leaf.title,
                        updated_at=now,
                    )
                )
            else:
                unchanged += 1
        removed_ids = list(existing)
        if to_add:
            Planning.objects.bulk_create(to_add, batch_size=1000)
        if to_update:
            Planning.objects.bulk_update(to_update, ["planning_id", "url", "title", "updated_at"], batch_size=1000)
        for start in range(0, len(removed_ids), 1000):
            # Deleting a planning cascades to its backup, queue row and state.
            Planning.objects.filter(full_id__in=removed_ids[start : start + 1000]).delete()
        if dry_run:
            transaction.set_rollback(True)
    return ImportSummary(
        added=len(to_add),
        updated=len(to_update),
        unchanged=unchanged,
        removed=len(removed_ids),
        skipped=contents.skipped,
    )
