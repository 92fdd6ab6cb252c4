from django.apps import AppConfig


class PlanningsConfig(AppConfig):
    name = "plannings"
    verbose_name = "Plannings refresh"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The wake-up is a Celery task: services send a signal, tasks.py sends the task.
        from plannings import signals, tasks

        signals.refresh_queue_changed.connect(tasks.refresh_worker_wake, dispatch_uid="plannings.refresh_worker_wake")
        scopes_register()


def scopes_register() -> None:
    """The token scopes of the plannings' actions, with what a person needs to hold each (the API kit's registry)."""
    from opsportal.api.scopes import scope_register
    from plannings import job_controls, operator_actions

    scope_register(
        operator_actions.OPERATE_SCOPE,
        needs=(operator_actions.OPERATE_PERMISSION,),
        description="refresh now, re-enable, release lock, retry now (also plannings.operate_plannings)",
    )
    scope_register(
        job_controls.CONTROL_SCOPE,
        needs=(job_controls.CONTROL_PERMISSION,),
        description="pause and resume the jobs, start a backfill or a drain (also plannings.control_jobs)",
    )
