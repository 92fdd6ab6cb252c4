"""``{% maintenance_line %}``: the dashboard's line of maintenance windows, those open now and those
opening within the coming week, linking to Alerts › Maintenance windows."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone

from opsportal.alerts.selectors import maintenance_windows_listed

register = template.Library()
COMING = timedelta(days=7)


@register.inclusion_tag("alerts/maintenance_line.html")
def maintenance_line() -> dict:
    return {"windows": maintenance_windows_listed(now=timezone.now(), within=COMING)}
