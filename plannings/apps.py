from django.apps import AppConfig


class PlanningsConfig(AppConfig):
    name = "plannings"
    verbose_name = "Plannings refresh"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The wake-up is a Celery task: services announce work (a signal), tasks.py wakes the worker (sends the task).
        from plannings import scopes, signals, tasks

        scopes.scopes_register()

        signals.refresh_queue_changed.connect(tasks.refresh_worker_wake, dispatch_uid="plannings.refresh_worker_wake")
