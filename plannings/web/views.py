"""The Jobs page: the plannings jobs' states, pause / resume (confirmed), and a backfill or drain started now.

Starting a job sends its Celery task, so it runs on a worker exactly as the
schedule would run it; a broker that is down is reported and nothing is half-done.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils import timezone
from kombu.exceptions import OperationalError

from opsportal.lib.pages import render_page
from plannings import runtime, selectors, tasks

CONTROL_PERMISSION = "plannings.control_jobs"
logger = logging.getLogger(__name__)

# action -> (what the confirmation page asks, whether it needs confirming)
ACTIONS = {
    "pause": ("Pause the backfill and the refresh worker?", True),
    "resume": ("Resume the backfill and the refresh worker?", True),
    "run-backfill": ("Run a backfill pass now?", False),
    "run-drain": ("Run a refresh drain now?", False),
}


def jobs_page(request):
    runtimes = selectors.job_runtimes()
    return render_page(
        request,
        "plannings/jobs.html",
        {
            "jobs": [(job_id, runtimes.get(job_id)) for job_id in selectors.JOB_IDS],
            "shared": selectors.jobs_shared_state(),
            "can_control": request.user.has_perm(CONTROL_PERMISSION),
        },
        title="Jobs",
    )


def _send(request, task, label: str, **kwargs) -> None:
    try:
        task.apply_async(kwargs=kwargs, retry=False)
    except OperationalError as exc:
        logger.warning("could not send %s: %s", label, exc)
        messages.error(request, f"broker_unavailable: {label} was not started ({type(exc).__name__}); try again later.")
        return
    messages.success(request, f"{label} sent to the workers.")


def jobs_action(request, action: str):
    if action not in ACTIONS:
        raise Http404(f"no job action {action!r}")
    if not request.user.has_perm(CONTROL_PERMISSION):
        raise PermissionDenied("you lack the permission to control jobs (plannings.control_jobs)")
    question, confirmed = ACTIONS[action]
    if request.method == "GET" and confirmed:
        return render_page(
            request, "plannings/jobs_confirm.html", {"question": question, "action": action}, title=question
        )
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    by, now = request.user.get_username(), timezone.now()
    if action == "pause":
        runtime.jobs_pause(by=by, now=now)
        messages.success(request, "Jobs paused: the backfill and the refresh worker stop at their next loop.")
    elif action == "resume":
        runtime.jobs_resume(by=by, now=now)
        messages.success(request, "Jobs resumed.")
    elif action == "run-backfill":
        _send(request, tasks.backfill, "A backfill pass")
    else:
        _send(request, tasks.refresh_poll, "A refresh drain", wake=True)
    return redirect("admin:ops-jobs")
