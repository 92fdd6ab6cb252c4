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

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils import timezone

from opsportal.audit.services import Actor
from opsportal.lib.pages import render_page
from plannings import job_controls, runtime, selectors
from plannings.job_controls import PAUSED_NOTHING_RUNS, BrokerUnavailable, JobControlRefused
from plannings.scopes import CONTROL_JOBS_PERMISSION

CONTROL_PERMISSION = CONTROL_JOBS_PERMISSION

# action -> (what the confirmation page asks, whether it needs confirming, its audit name)
ACTIONS = {
    "pause": ("Pause the backfill and the refresh worker?", True, runtime.ACTION_PAUSE),
    "resume": ("Resume the backfill and the refresh worker?", True, runtime.ACTION_RESUME),
    "run-backfill": ("Run a backfill pass now?", False, job_controls.AUDIT_RUN_BACKFILL),
    "run-drain": ("Run a refresh drain now?", False, job_controls.AUDIT_RUN_DRAIN),
}
STARTED = {
    "run-backfill": (job_controls.BACKFILL, "A backfill pass"),
    "run-drain": (job_controls.DRAIN, "A refresh drain"),
}


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


def jobs_action(request, action: str):
    if action not in ACTIONS:
        raise Http404(f"no job action {action!r}")
    question, confirmed, _ = ACTIONS[action]
    actor = Actor.portal(request.user)
    if request.method == "GET" and confirmed:
        # A GET of the confirmation page acts on nothing: refused without a row.
        if not request.user.has_perm(CONTROL_PERMISSION):
            raise PermissionDenied("you lack the permission to control jobs (plannings.control_jobs)")
        return render_page(
            request, "plannings/jobs_confirm.html", {"question": question, "action": action}, title=question
        )
    if request.method != "POST":
        if not request.user.has_perm(CONTROL_PERMISSION):
            raise PermissionDenied("you lack the permission to control jobs (plannings.control_jobs)")
        return HttpResponseNotAllowed(["POST"])
    try:
        if action in ("pause", "resume"):
            job_controls.jobs_switch(paused=action == "pause", actor=actor, now=timezone.now())
            messages.success(
                request,
                "Jobs paused: the backfill and the refresh worker stop at their next loop."
                if action == "pause"
                else "Jobs resumed: the backfill and the refresh worker run again at their next loop.",
            )
        else:
            job, label = STARTED[action]
            job_controls.jobs_start(job=job, actor=actor)
            messages.success(request, f"{label} sent to the workers.")
    except JobControlRefused as refused:
        if refused.code != "paused":
            raise PermissionDenied(f"you lack the permission to control jobs ({CONTROL_PERMISSION})") from None
        label = "backfill" if action == "run-backfill" else "drain"
        messages.error(request, f"{PAUSED_NOTHING_RUNS} No {label} was sent: resume the jobs first.")
    except BrokerUnavailable as unavailable:
        label = STARTED[action][1]
        kind = unavailable.__cause__.__class__.__name__
        messages.error(request, f"broker_unavailable: {label} was not started ({kind}); try again later.")
    return redirect("admin:ops-jobs")
