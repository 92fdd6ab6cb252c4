"""Operations pages inside the admin's chrome, for any app's views (the site itself is the portal's)."""

from __future__ import annotations

from django.template.response import TemplateResponse


def render_page(request, template: str, context: dict, *, title: str, status: int = 200) -> TemplateResponse:
    """An operations page inside the admin's chrome (nav, breadcrumbs, user tools)."""
    from django.contrib.admin import site

    return TemplateResponse(request, template, {**site.each_context(request), "title": title, **context}, status=status)
