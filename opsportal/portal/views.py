"""The operations dashboard: the whole page, and one panel at a time for its polling script."""

from __future__ import annotations

import re

from django.http import Http404
from django.template.response import TemplateResponse

from opsportal.lib.pages import render_page
from opsportal.portal import dashboard

REFRESH_SECONDS = 15
REFRESH_RANGE = (2, 3600)
DIGITS = re.compile(r"[0-9]{1,4}")  # ASCII only: '²'.isdigit() is True, and int('²') raises


def _refresh_seconds(raw: str | None) -> int:
    """``?every=N`` picks the panels' refresh period (2 to 3600 s); anything else keeps the default."""
    if raw is not None and DIGITS.fullmatch(raw) and REFRESH_RANGE[0] <= int(raw) <= REFRESH_RANGE[1]:
        return int(raw)
    return REFRESH_SECONDS


def dashboard_page(request):
    return render_page(
        request,
        "opsportal/dashboard.html",
        {"panels": dashboard.dashboard_build(), "refresh_seconds": _refresh_seconds(request.GET.get("every"))},
        title="Operations dashboard",
    )


def dashboard_panel(request, panel: str):
    if panel not in dashboard.PANELS:
        raise Http404(f"no panel {panel!r}")
    return TemplateResponse(request, "opsportal/panel.html", {"panel": dashboard.panel_build(panel)})
