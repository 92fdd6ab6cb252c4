"""``{% load opstime %}{{ value|ago }}``: the portal's one date format (``opsportal.lib.timefmt.time_html``)."""

from __future__ import annotations

from django import template
from django.utils import timezone

from opsportal.lib.timefmt import time_html

register = template.Library()


@register.filter(is_safe=True)
def ago(value):
    """A datetime or ISO-8601 string as "3 min ago" with the exact UTC time on hover; "—" for none."""
    return time_html(value, timezone.now())
