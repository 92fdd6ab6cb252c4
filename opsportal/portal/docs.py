"""The README and ``docs/*.md`` as portal pages: sections under GitHub's heading ids, Markdown links made links.

Not a Markdown renderer (none is a runtime dependency): each section's body stays Markdown text,
except its links, which become links. A link to another served document (``docs/alerts.md``,
``../README.md#status``) is rewritten to that document's page on the portal's own host, so the
panels' "see Configuration" links and the documents' links between themselves land on a section.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

HEADING = re.compile(r"^(#{1,4}) (.+)$")
# [label](target), or ![alt](target) for an image; a label may wrap onto the next line.
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^(?:https?:|mailto:)", re.IGNORECASE)
# A served document's name: a docs/ file name without ".md", never a path (no "/", no "..").
DOC_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Section:
    level: int
    title: str
    anchor: str
    body: str  # Markdown text
    heading: bool = True  # False for the text before a document's first heading, which GitHub gives no id


def root() -> Path:
    return Path(settings.BASE_DIR)


def docs_folder() -> Path:
    return root() / "docs"


def doc_slugs() -> set[str]:
    """The documents the portal serves besides the README: the Markdown files directly in docs/."""
    return {path.stem for path in docs_folder().glob("*.md") if DOC_SLUG.fullmatch(path.stem)}


def doc_path(slug: str) -> Path | None:
    """The file of a served document, or None: only a name listed in docs/ is ever opened."""
    return docs_folder() / f"{slug}.md" if slug in doc_slugs() else None


def heading_anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def markdown_sections(text: str, title: str = "README") -> list[Section]:
    """A document as sections: headings become anchors, bodies stay Markdown text."""
    sections: list[tuple[int, str, str, list[str]]] = [(1, title, heading_anchor(title), [])]
    seen: Counter[str] = Counter()
    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        match = None if fenced else HEADING.match(line)
        if match:
            heading = match.group(2).strip()
            anchor = heading_anchor(heading)
            # A repeated heading gets -1, -2 ... as on GitHub, so every id stays unique.
            anchor, seen[anchor] = (f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor), seen[anchor] + 1
            sections.append((len(match.group(1)), heading, anchor, []))
        else:
            sections[-1][3].append(line)
    first, *rest = [
        Section(level, heading, anchor, "\n".join(body).strip("\n")) for level, heading, anchor, body in sections
    ]
    first = Section(first.level, first.title, first.anchor, first.body, heading=False)
    # The text before the first heading is a section of its own only when there is some.
    return [first, *rest] if first.body or not rest else rest


def document_anchors(path: Path) -> set[str]:
    """Every id a link may name in that document: its headings' anchors, as its page and GitHub give them."""
    return {section.anchor for section in markdown_sections(path.read_text(encoding="utf-8")) if section.heading}


def link_file(target: str, source: Path) -> tuple[Path | None, str]:
    """Where a relative link of ``source`` points on disk (None for an external link or an anchor), and its anchor."""
    location, _, anchor = target.partition("#")
    if EXTERNAL.match(target) or not location:
        return None, anchor
    return Path(posixpath.normpath(posixpath.join(source.parent.as_posix(), location))), anchor


def served_href(target: str, source: Path) -> str | None:
    """The portal address of a link found in ``source``, or None when what it names is not served."""
    if EXTERNAL.match(target):
        return target
    path, anchor = link_file(target, source)
    fragment = f"#{anchor}" if anchor else ""
    if path is None:
        return fragment or None
    if path == root() / "README.md":
        return reverse("admin:ops-readme") + fragment
    if path.parent == docs_folder() and path.suffix == ".md" and path.stem in doc_slugs():
        return reverse("admin:ops-doc", args=[path.stem]) + fragment
    return None  # source files, screenshots: the portal does not serve them, so the text stays as written


def body_html(body: str, source: Path) -> SafeString:
    """A section's Markdown text, escaped, with each link to something the portal serves made a link."""
    parts: list[str] = []
    position = 0
    for match in LINK.finditer(body):
        parts.append(escape(body[position : match.start()]))
        href = None if match.group(1) else served_href(match.group(3), source)
        if href is None:
            parts.append(escape(match.group(0)))
        else:
            parts.append(f'<a class="ops-doc-link" href="{escape(href)}">{escape(match.group(2))}</a>')
        position = match.end()
    parts.append(escape(body[position:]))
    return mark_safe("".join(parts))  # noqa: S308 (every piece above is escaped)


def page_sections(path: Path, title: str) -> list[Section]:
    """A document's sections with their bodies as HTML, for the page template."""
    sections = markdown_sections(path.read_text(encoding="utf-8"), title)
    return [Section(s.level, s.title, s.anchor, body_html(s.body, path), s.heading) for s in sections]
