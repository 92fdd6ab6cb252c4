"""Signals plannings sends; receivers are connected in ``PlanningsConfig.ready``."""

from django.dispatch import Signal

# Sent after the commit that queued plannings for a refresh: time to wake a worker.
refresh_queue_changed = Signal()
