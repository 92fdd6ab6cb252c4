"""The Jobs page: the plannings jobs' states, pause / resume (confirmed), and a backfill or drain started now.

Starting a job sends its Celery task, so it runs on a worker exactly as the
schedule would run it; a broker that is down is reported and nothing is half-done.
Every action, allowed or refused, is in the audit trail (``jobs.pause``, ``jobs.resume``,
``jobs.run_backfill``, ``jobs.run_drain``).

The pause switch is read by each job at the top of its loop, so between an operator's
Pause (or Resume) and the jobs' next loop the switch and the jobs' last reports disagree.
The page says so instead of contradicting itself: the switch and every row are derived
from the same two facts (``selectors.jobs_shown``, which the dashboard reads too), e.g. "pausing: stops at
its next loop".
While paused, Run backfill / Run a drain are refused with that reason: the task would
only report "paused" and do nothing, and "sent" would read as if it had run.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils import timezone
from kombu.exceptions import OperationalError

from opsportal.audit.services import Actor, Outcome, audit_record, audit_refusal_record
from opsportal.lib.pages import render_page
from plannings import runtime, selectors, tasks
from plannings.scopes import CONTROL_JOBS_PERMISSION as CONTROL_PERMISSION

logger = logging.getLogger(__name__)

# action -> (what the confirmation page asks, whether it needs confirming, its audit name)
ACTIONS = {
    "pause": ("Pause the backfill and the refresh worker?", True, runtime.ACTION_PAUSE),
    "resume": ("Resume the backfill and the refresh worker?", True, runtime.ACTION_RESUME),
    "run-backfill": ("Run a backfill pass now?", False, "jobs.run_backfill"),
    "run-drain": ("Run a refresh drain now?", False, "jobs.run_drain"),
}
PAUSED_NOTHING_RUNS = "Jobs are paused: nothing runs until they are resumed."


def jobs_page(request):
    shared = selectors.jobs_shared_state()
    return render_page(
        request,
        "plannings/jobs.html",
        {
            "switch": selectors.jobs_shown(shared=shared, runtimes=selectors.job_runtimes(), now=timezone.now()),
            "shared": shared,
            "can_control": request.user.has_perm(CONTROL_PERMISSION),
            "paused_nothing_runs": PAUSED_NOTHING_RUNS,
        },
        title="Jobs",
    )


def _send(request, task, label: str, *, action: str, actor: Actor, **kwargs) -> None:
    try:
        task.apply_async(kwargs=kwargs, retry=False)
    except OperationalError as exc:
        logger.warning("could not send %s: %s", label, exc)
        audit_record(
            actor=actor, action=action, outcome=Outcome.FAILED, target_type="job", targets=[task.name], changed=0,
            detail=f"broker_unavailable: {type(exc).__name__}",
        )  # fmt: skip
        messages.error(request, f"broker_unavailable: {label} was not started ({type(exc).__name__}); try again later.")
        return
    audit_record(actor=actor, action=action, target_type="job", targets=[task.name], detail="sent to the workers")
    messages.success(request, f"{label} sent to the workers.")


def jobs_action(request, action: str):
    if action not in ACTIONS:
        raise Http404(f"no job action {action!r}")
    question, confirmed, audited = ACTIONS[action]
    actor = Actor.portal(request.user)
    if not request.user.has_perm(CONTROL_PERMISSION):
        detail = "you lack the permission to control jobs (plannings.control_jobs)"
        if request.method == "POST":  # a GET of the confirmation page acts on nothing
            audit_refusal_record(actor=actor, action=audited, target_type="job", detail=detail)
        raise PermissionDenied(detail)
    if request.method == "GET" and confirmed:
        return render_page(
            request, "plannings/jobs_confirm.html", {"question": question, "action": action}, title=question
        )
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    now = timezone.now()
    if action == "pause":
        runtime.jobs_pause(actor=actor, now=now)
        messages.success(request, "Jobs paused: the backfill and the refresh worker stop at their next loop.")
    elif action == "resume":
        runtime.jobs_resume(actor=actor, now=now)
        messages.success(request, "Jobs resumed: the backfill and the refresh worker run again at their next loop.")
    elif runtime.jobs_paused():
        label = "backfill" if action == "run-backfill" else "drain"
        audit_refusal_record(actor=actor, action=audited, target_type="job", detail=PAUSED_NOTHING_RUNS)
        messages.error(request, f"{PAUSED_NOTHING_RUNS} No {label} was sent: resume the jobs first.")
    elif action == "run-backfill":
        _send(request, tasks.backfill, "A backfill pass", action=audited, actor=actor)
    else:
        _send(request, tasks.refresh_poll, "A refresh drain", action=audited, actor=actor, wake=True)
    return redirect("admin:ops-jobs")
