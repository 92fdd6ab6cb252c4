"""The Celery app. Broker and limits come from Django settings (``CELERY_*``)."""

import logging
import os
import threading
import time

from celery import Celery, bootsteps
from celery.signals import task_failure, task_prerun, task_success

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

logger = logging.getLogger(__name__)

app = Celery("opsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerReport(bootsteps.StartStopStep):
    """The worker writes its own row (``opsportal.workers``): at start, every REPORT_SECONDS, at stop.

    The portal shows workers, their queues and last tasks from these rows, so workers run
    ``--without-gossip --without-mingle --without-heartbeat`` and nothing asks the broker who is
    there (broadcast traffic is what breaks first on a large fleet). A thread of its own: a slow
    database delays a report, never the worker's consuming loop.
    """

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _report(self, worker, *, starting: bool = False) -> None:
        from django.db import close_old_connections
        from django.utils import timezone

        from opsportal.workers.services import worker_report

        close_old_connections()
        worker_report(
            name=worker.hostname,
            pid=os.getpid(),
            queues=list(worker.app.amqp.queues.consume_from or worker.app.amqp.queues),
            pool=type(worker.pool).__module__.rsplit(".", 1)[-1] if worker.pool else "",
            concurrency=worker.concurrency or 0,
            now=timezone.now(),
            starting=starting,
        )

    def _loop(self, worker) -> None:
        from opsportal.workers.models import WorkerProcess

        starting = True
        while True:
            try:
                self._report(worker, starting=starting)
                starting = False
            except Exception:  # noqa: BLE001 (the database down: logged, the next report tries again)
                logger.warning("worker report failed", exc_info=True)
            if self._stop.wait(WorkerProcess.REPORT_SECONDS):
                return

    def start(self, worker) -> None:
        self._thread = threading.Thread(target=self._loop, args=(worker,), name="worker-report", daemon=True)
        self._thread.start()

    def stop(self, worker) -> None:
        from django.db import close_old_connections
        from django.utils import timezone

        from opsportal.workers.services import worker_stopped

        self._stop.set()
        try:
            close_old_connections()
            worker_stopped(name=worker.hostname, now=timezone.now())
        except Exception:  # noqa: BLE001 (stopping without a database: the row turns stale instead)
            logger.warning("worker stop report failed", exc_info=True)


app.steps["worker"].add(WorkerReport)

# Each process writes a task's name at most this often (per task name): the "last task" stays fresh
# without one write per task on a busy worker.
TASK_SEEN_SECONDS = 5.0
_task_seen: dict[str, float] = {}


@task_prerun.connect
def _record_task(sender=None, task=None, **kwargs) -> None:
    from django.utils import timezone

    from opsportal.workers.services import worker_task_seen

    hostname = getattr(task.request, "hostname", None) if task is not None else None
    if not hostname:
        return  # run eagerly (tests, apply()): not on a worker
    last = _task_seen.get(task.name, 0.0)
    if time.monotonic() - last < TASK_SEEN_SECONDS:
        return
    _task_seen[task.name] = time.monotonic()
    try:
        worker_task_seen(name=hostname, task=task.name, now=timezone.now())
    except Exception:  # noqa: BLE001 (the task itself reports a database outage; this is bookkeeping)
        logger.warning("worker task report failed", exc_info=True)


@task_success.connect
def _count_success(sender=None, **kwargs) -> None:
    from opsportal.lib.accounting import task_outcome_record

    task_outcome_record(queue=_queue_of(sender), ok=True, job_id=sender.request.id or "")


@task_failure.connect
def _count_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    from opsportal.lib.accounting import task_outcome_record

    task_outcome_record(
        queue=_queue_of(sender), ok=False, job_id=task_id or "", error=f"{type(exception).__name__}: {exception}"
    )


def _queue_of(task) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return delivery.get("routing_key") or delivery.get("exchange") or "celery"
