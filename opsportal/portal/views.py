"""The operations dashboard: the whole page, and one panel at a time for its polling script."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404
from django.template.response import TemplateResponse

from opsportal.lib.pages import render_page
from opsportal.portal import dashboard

REFRESH_SECONDS = 15
REFRESH_RANGE = (2, 3600)
DIGITS = re.compile(r"[0-9]{1,4}")  # ASCII only: '²'.isdigit() is True, and int('²') raises
RANGE_MAX_LENGTH = 16  # a longer ?range= is shown back truncated; none is valid anyway


def _refresh_seconds(raw: str | None) -> int:
    """``?every=N`` picks the panels' refresh period (2 to 3600 s); anything else keeps the default."""
    if raw is not None and DIGITS.fullmatch(raw) and REFRESH_RANGE[0] <= int(raw) <= REFRESH_RANGE[1]:
        return int(raw)
    return REFRESH_SECONDS


def _options(request) -> dict:
    """The page's ``?range=`` and ``?every=``, for the panels and for the fragments' URLs."""
    every = request.GET.get("every")
    history_range = (request.GET.get("range") or "")[:RANGE_MAX_LENGTH] or None
    carried = {"range": history_range, "every": every if _refresh_seconds(every) != REFRESH_SECONDS else None}
    carried = {key: value for key, value in carried.items() if value}
    return {
        "history_range": history_range,
        "refresh_seconds": _refresh_seconds(every),
        "every_param": carried.get("every", ""),
        "panel_query": f"?{urlencode(carried)}" if carried else "",
    }


def dashboard_page(request):
    options = _options(request)
    return render_page(
        request,
        "opsportal/dashboard.html",
        {"panels": dashboard.dashboard_build(history_range=options["history_range"]), **options},
        title="Operations dashboard",
    )


def dashboard_panel(request, panel: str):
    if panel not in dashboard.PANELS:
        raise Http404(f"no panel {panel!r}")
    options = _options(request)
    panel_data = dashboard.panel_build(panel, history_range=options["history_range"])
    return TemplateResponse(request, "opsportal/panel.html", {"panel": panel_data, **options})


README = Path(settings.BASE_DIR) / "README.md"
HEADING = re.compile(r"^(#{1,4}) (.+)$")


def heading_anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def readme_sections(text: str) -> list[tuple[int, str, str, str]]:
    """The README as (level, title, anchor, body) sections: headings become anchors, bodies stay Markdown text.

    Not a Markdown renderer (none is a runtime dependency): enough for the panels' "see the
    README" links to land on the right section, on the portal's own host.
    """
    sections: list[tuple[int, str, str, list[str]]] = [(1, "README", "readme", [])]
    seen: Counter[str] = Counter()
    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        match = None if fenced else HEADING.match(line)
        if match:
            title = match.group(2).strip()
            anchor = heading_anchor(title)
            # A repeated heading gets -1, -2 ... as on GitHub, so every id stays unique.
            anchor, seen[anchor] = (f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor), seen[anchor] + 1
            sections.append((len(match.group(1)), title, anchor, []))
        else:
            sections[-1][3].append(line)
    return [(level, title, anchor, "\n".join(body).strip("\n")) for level, title, anchor, body in sections]


def readme_page(request):
    try:
        text = README.read_text(encoding="utf-8")
    except OSError:
        raise Http404("README.md is not installed with this portal") from None
    return render_page(request, "opsportal/readme.html", {"sections": readme_sections(text)}, title="README")
