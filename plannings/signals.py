"""Signals plannings sends; receivers are connected in ``PlanningsConfig.ready``."""

from django.dispatch import Signal

# Sent after the commit that queued plannings for a refresh (``services.refresh_work_available``):
# its receiver, ``tasks.refresh_worker_wake``, wakes a worker.
refresh_queue_changed = Signal()
