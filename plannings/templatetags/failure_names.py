"""``{% load failure_names %}{{ kind|failure_label }}``: a failure kind as every page names it
(``http_4xx`` as "HTTP 4xx", ``parse_error`` as "parse error"), never the stored token."""

from __future__ import annotations

from django import template

from plannings import policy

register = template.Library()


@register.filter
def failure_label(value: str | None) -> str:
    return policy.failure_label(value)
