"""The plannings' permissions and the token scopes they register with the API kit (``opsportal.api.scopes``)."""

from __future__ import annotations

from opsportal.api.scopes import scope_register

OPERATE_PERMISSION = "plannings.operate_plannings"
CONTROL_JOBS_PERMISSION = "plannings.control_jobs"
SCOPE_OPERATE = "plannings:operate"
SCOPE_JOBS = "jobs:control"


def scopes_register() -> None:
    """Called once the app is ready (``PlanningsConfig.ready``)."""
    scope_register(
        SCOPE_OPERATE,
        needs=(OPERATE_PERMISSION,),
        description=f"refresh now, re-enable, release the lock of, retry plannings ({OPERATE_PERMISSION})",
    )
    scope_register(
        SCOPE_JOBS,
        needs=(CONTROL_JOBS_PERMISSION,),
        description=f"pause, resume and start the jobs, run a backfill or a drain ({CONTROL_JOBS_PERMISSION})",
    )
