"""``{% alerts_badge %}``: the dashboard's badge of open alerts, with the portal's verdict (the worst
open alert, ``unknown`` while the evaluator is not passing), linking to the Alerts page."""

from __future__ import annotations

from django import template
from django.utils import timezone

from opsportal.alerts.selectors import open_alert_counts, portal_verdict

register = template.Library()


@register.inclusion_tag("alerts/badge.html")
def alerts_badge() -> dict:
    return {"counts": open_alert_counts(), "verdict": portal_verdict(now=timezone.now())}
