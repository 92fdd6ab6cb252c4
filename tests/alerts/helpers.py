"""Steps several alerts tests share (fixtures stay in conftest.py)."""

from __future__ import annotations

from opsportal.alerts.models import Alert
from opsportal.alerts.services import alerts_evaluate


def fire_one(health, clock) -> Alert:
    """The plannings health rule's alert, fired: the health turns bad, two passes a minute apart."""
    health.bad()
    alerts_evaluate()
    clock.shift(60)
    assert alerts_evaluate().fired == 1
    return Alert.objects.get()
