"""The operator's controls of the plannings jobs: pause, resume, a backfill pass or a drain started now.

Called by the Jobs page and the REST API alike. Each takes the ``actor`` and decides itself
whether it may (``plannings.control_jobs``; a token needs the ``jobs:control`` scope too); a
refusal is recorded and raised as ``JobControlRefused``. Every call writes one audit row
(``jobs.pause``, ``jobs.resume``, ``jobs.run_backfill``, ``jobs.run_drain``), refused ones too.

Starting a job sends its Celery task, so it runs on a worker exactly as the schedule would run
it. While the jobs are paused a start is refused (``code="paused"``): the task would only report
"paused" and do nothing, and "sent" would read as if it had run. A broker that is down is
recorded as a failed attempt and raised as ``BrokerUnavailable``: nothing is half-done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from kombu.exceptions import OperationalError

from opsportal.audit.services import Outcome, audit_record, audit_refusal_record
from opsportal.lib.actors import Actor
from plannings import runtime, tasks
from plannings.scopes import CONTROL_JOBS_PERMISSION, SCOPE_JOBS

logger = logging.getLogger(__name__)

AUDIT_RUN_BACKFILL = "jobs.run_backfill"
AUDIT_RUN_DRAIN = "jobs.run_drain"
PAUSED_NOTHING_RUNS = "Jobs are paused: nothing runs until they are resumed."

# The jobs an operator may start now: (the audit action, the task, its arguments).
BACKFILL, DRAIN = "backfill", "drain"
STARTABLE = {
    BACKFILL: (AUDIT_RUN_BACKFILL, tasks.backfill, {}),
    DRAIN: (AUDIT_RUN_DRAIN, tasks.refresh_poll, {"wake": True}),
}


class JobControlRefused(Exception):
    """The actor may not control the jobs (``forbidden``), or the jobs are paused (``paused``)."""

    def __init__(self, detail: str, *, code: str = "forbidden"):
        super().__init__(detail)
        self.detail = detail
        self.code = code


class BrokerUnavailable(Exception):
    """The task could not be sent: nothing was started (recorded as a failed attempt)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class JobsOutcome:
    """What a control did: its audit action, whether anything changed, the switch after it, and why."""

    action: str
    changed: bool
    paused: bool
    detail: str


def jobs_control_refusal(*, actor: Actor, action: str) -> None:
    """Refuse (audited, then raised) an actor who may not control the jobs; return when it may."""
    if refusal := actor.refusal(permission=CONTROL_JOBS_PERMISSION, scope=SCOPE_JOBS):
        audit_refusal_record(actor=actor, action=action, target_type="job", detail=refusal)
        raise JobControlRefused(refusal)


def jobs_switch(*, paused: bool, actor: Actor, now: datetime) -> JobsOutcome:
    """Pause or resume both jobs; pausing paused jobs changes nothing and says so (still one row)."""
    action = runtime.ACTION_PAUSE if paused else runtime.ACTION_RESUME
    jobs_control_refusal(actor=actor, action=action)
    moved = (runtime.jobs_pause if paused else runtime.jobs_resume)(actor=actor, now=now)
    state = "paused" if paused else "running"
    detail = (
        ("the jobs stop at their next loop" if paused else "the jobs run at their next loop")
        if moved
        else f"already {state}"
    )
    return JobsOutcome(action=action, changed=moved, paused=paused, detail=detail)


def jobs_start(*, job: str, actor: Actor) -> JobsOutcome:
    """Send a backfill pass or a drain to the workers now."""
    action, task, kwargs = STARTABLE[job]
    jobs_control_refusal(actor=actor, action=action)
    if runtime.jobs_paused():
        audit_refusal_record(actor=actor, action=action, target_type="job", detail=PAUSED_NOTHING_RUNS)
        raise JobControlRefused(PAUSED_NOTHING_RUNS, code="paused")
    try:
        task.apply_async(kwargs=kwargs, retry=False)
    except OperationalError as exc:
        logger.warning("could not send %s: %s", task.name, exc)
        detail = f"broker_unavailable: {type(exc).__name__}"
        audit_record(
            actor=actor, action=action, outcome=Outcome.FAILED, target_type="job", targets=[task.name], changed=0,
            detail=detail,
        )  # fmt: skip
        raise BrokerUnavailable(detail) from exc
    audit_record(actor=actor, action=action, target_type="job", targets=[task.name], detail="sent to the workers")
    return JobsOutcome(action=action, changed=True, paused=False, detail="sent to the workers")
