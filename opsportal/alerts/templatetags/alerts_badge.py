"""``{% alerts_badge %}``: the dashboard's badge of open alerts, linking to the Alerts page."""

from __future__ import annotations

from django import template

from opsportal.alerts.selectors import open_alert_counts

register = template.Library()


@register.inclusion_tag("alerts/badge.html")
def alerts_badge() -> dict:
    return {"counts": open_alert_counts()}
