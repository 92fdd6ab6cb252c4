"""The operations dashboard: the whole page, and one panel at a time for its polling script."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.http import Http404
from django.template.response import TemplateResponse

from opsportal.lib.pages import render_page
from opsportal.portal import dashboard, docs

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


def readme_page(request):
    path = docs.root() / "README.md"
    if not path.is_file():
        raise Http404("README.md is not installed with this portal")
    sections = docs.page_sections(path, "README")
    return render_page(request, "opsportal/readme.html", {"sections": sections, "document": "README"}, title="README")


def doc_page(request, slug: str):
    """One of docs/*.md; a name that is not a file there is a 404, whatever it holds ("..", "/")."""
    path = docs.doc_path(slug)
    if path is None:
        raise Http404(f"no document {slug!r} in docs/")
    sections = docs.page_sections(path, slug)
    title = sections[0].title if sections else slug
    return render_page(request, "opsportal/readme.html", {"sections": sections, "document": title}, title=title)
