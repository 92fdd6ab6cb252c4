"""The operator's actions on plannings and jobs over the API: thin views, one per operation.

Each view turns the request into one call of a service (``plannings.operator_actions``,
``plannings.job_controls``), which decides whether the token may (its scope, and its owner's
permission) and records the attempt, refused ones included; the view only translates the outcome
or the refusal into HTTP. Any valid token reaches the views (``HasToken``): a ``read`` token is
refused by the service, so that its refusal is on the record.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from opsportal.api import idempotency
from opsportal.api.auth import HasToken
from opsportal.api.base import OpsApi
from opsportal.api.errors import OpsError
from opsportal.api.params import validated
from opsportal.api.schema import errors_documented
from opsportal.lib.actors import Actor
from plannings import job_controls, operator_actions, services
from plannings.operator_actions import OperatorActionRefused, PlanningMissing
from plannings.web.action_shapes import BulkBody, JobsOutcomeSerializer, OperatorOutcomeSerializer

# A single planning's action that changed nothing answers with the reason's status: a conflict with
# the planning's state (409), or the user request's throttle (429, retry after its 30 s).
SKIP_STATUS = {
    operator_actions.THROTTLED: status.HTTP_429_TOO_MANY_REQUESTS,
    operator_actions.NOT_DISABLED: status.HTTP_409_CONFLICT,
    operator_actions.NOT_LOCKED: status.HTTP_409_CONFLICT,
    operator_actions.NOT_WAITING: status.HTTP_409_CONFLICT,
    operator_actions.NOT_FOUND: status.HTTP_404_NOT_FOUND,
}
THROTTLE_SECONDS = int(services.USER_REQUEST_THROTTLE.total_seconds())
# What ``Idempotency-Key`` (the kit's, on every POST) may answer besides: a malformed key (400), a retry
# while the first request still acts past the wait (409), a body too large to compare (413), the key
# reused for another request (422).
KEYED = (400, 409, 413, 422)


def _error(status_code: int, code: str, detail: str) -> OpsError:
    error = OpsError(detail)
    error.status_code, error.code = status_code, code
    return error


def _refused(refused: OperatorActionRefused | job_controls.JobControlRefused) -> OpsError:
    if refused.code == "forbidden":
        return _error(status.HTTP_403_FORBIDDEN, "forbidden", refused.detail)
    if refused.code == "paused":
        return _error(status.HTTP_409_CONFLICT, "jobs_paused", refused.detail)
    return _error(status.HTTP_400_BAD_REQUEST, refused.code, refused.detail)  # too_many


class _PlanningActionApi(OpsApi):
    permission_classes = [HasToken]
    action: str

    def post(self, request, full_id: str):
        try:
            outcome = operator_actions.planning_operate(
                action=self.action, planning_full_id=full_id, now=timezone.now(), actor=Actor.api(request.auth)
            )
        except OperatorActionRefused as refused:
            raise _refused(refused) from None
        except PlanningMissing as missing:
            raise _error(status.HTTP_404_NOT_FOUND, "not_found", missing.detail) from None
        if outcome.skipped:
            skipped = outcome.skipped[0]
            error = _error(SKIP_STATUS[skipped.reason], skipped.reason, skipped.why)
            if skipped.reason == operator_actions.THROTTLED:
                error.wait = THROTTLE_SECONDS  # DRF sets Retry-After from it
            raise error
        return Response(OperatorOutcomeSerializer(outcome).data)


def _planning_schema(operation_id: str, *statuses: int, description: str):
    return extend_schema(
        operation_id=operation_id,
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: OperatorOutcomeSerializer, **errors_documented(*KEYED, 404, *statuses)},
        description=description + " Needs the `plannings:operate` scope, and its owner "
        "`plannings.operate_plannings` (403 otherwise, on the record).",
    )


class PlanningRefreshApi(_PlanningActionApi):
    action = operator_actions.REFRESH

    @_planning_schema(
        "planning_refresh",
        429,
        description="Refresh now: queue the planning first, as a user's request (re-enables it). "
        "429 `throttled` when it was requested less than 30 s ago (`Retry-After`).",
    )
    def post(self, request, full_id: str):
        return super().post(request, full_id)


class PlanningReenableApi(_PlanningActionApi):
    action = operator_actions.REENABLE

    @_planning_schema(
        "planning_reenable",
        409,
        description="Clear the planning's disable and queue it. 409 `not_disabled` when it is not disabled.",
    )
    def post(self, request, full_id: str):
        return super().post(request, full_id)


class PlanningReleaseLockApi(_PlanningActionApi):
    action = operator_actions.RELEASE_LOCK

    @_planning_schema(
        "planning_release_lock",
        409,
        description="Unlock the planning's queue row (a worker that is gone): claimable at once. "
        "409 `not_locked` when its row is not locked.",
    )
    def post(self, request, full_id: str):
        return super().post(request, full_id)


class PlanningRetryApi(_PlanningActionApi):
    action = operator_actions.RETRY

    @_planning_schema(
        "planning_retry",
        409,
        description="Bring the next attempt of the planning's queue row, waiting in backoff, forward to now. "
        "409 `not_waiting` when it is not waiting (not queued, already due, or out of attempts).",
    )
    def post(self, request, full_id: str):
        return super().post(request, full_id)


class PlanningsBulkApi(OpsApi):
    permission_classes = [HasToken]

    @extend_schema(
        operation_id="plannings_bulk",
        request=BulkBody,
        parameters=[idempotency.PARAMETER],
        responses={200: OperatorOutcomeSerializer, **errors_documented(*KEYED, 400, 413)},
        description="One action over many plannings: `ids`, or a `filter` (as `GET plannings`) with the `max` "
        "it may match: more is refused whole (400 `too_many`, nothing done). Refresh takes at most "
        f"{operator_actions.REFRESH_NOW_LIMIT} plannings. The answer says which changed and why each other was "
        "skipped. Needs `plannings:operate`, and its owner `plannings.operate_plannings` (403, on the record).",
    )
    def post(self, request):
        body = validated(BulkBody, request.data if isinstance(request.data, dict) else {}).validated_data
        actor, now = Actor.api(request.auth), timezone.now()
        try:
            if "ids" in body:
                outcome = operator_actions.plannings_operate(
                    action=body["action"], planning_full_ids=body["ids"], now=now, actor=actor
                )
            else:
                outcome = operator_actions.plannings_operate_matching(
                    action=body["action"], filters=dict(body["filter"]), maximum=body["max"], now=now, actor=actor
                )
        except OperatorActionRefused as refused:
            raise _refused(refused) from None
        return Response(OperatorOutcomeSerializer(outcome).data)


# --- Jobs ---------------------------------------------------------------------------------


class _JobsApi(OpsApi):
    permission_classes = [HasToken]

    def run(self, request):
        raise NotImplementedError

    def post(self, request):
        try:
            outcome = self.run(request)
        except job_controls.JobControlRefused as refused:
            raise _refused(refused) from None
        except job_controls.BrokerUnavailable as unavailable:
            raise _error(status.HTTP_503_SERVICE_UNAVAILABLE, "broker_unavailable", unavailable.detail) from None
        return Response(JobsOutcomeSerializer(outcome).data)


JOBS_SCOPE = " Needs the `jobs:control` scope, and its owner `plannings.control_jobs` (403, on the record)."


class JobsPauseApi(_JobsApi):
    @extend_schema(
        operation_id="jobs_pause",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: JobsOutcomeSerializer, **errors_documented(*KEYED)},
        description="Pause the backfill and the refresh worker (one switch): they stop at their next loop. "
        "Pausing paused jobs changes nothing (`changed` false)." + JOBS_SCOPE,
    )
    def post(self, request):
        return super().post(request)

    def run(self, request):
        return job_controls.jobs_switch(paused=True, actor=Actor.api(request.auth), now=timezone.now())


class JobsResumeApi(_JobsApi):
    @extend_schema(
        operation_id="jobs_resume",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: JobsOutcomeSerializer, **errors_documented(*KEYED)},
        description="Resume both jobs: they run again at their next loop." + JOBS_SCOPE,
    )
    def post(self, request):
        return super().post(request)

    def run(self, request):
        return job_controls.jobs_switch(paused=False, actor=Actor.api(request.auth), now=timezone.now())


class JobsBackfillApi(_JobsApi):
    @extend_schema(
        operation_id="jobs_backfill",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: JobsOutcomeSerializer, **errors_documented(*KEYED, 409, 503)},
        description="Send a backfill pass to the workers now. 409 `jobs_paused` while the jobs are paused; "
        "503 `broker_unavailable` when the task could not be sent (nothing started)." + JOBS_SCOPE,
    )
    def post(self, request):
        return super().post(request)

    def run(self, request):
        return job_controls.jobs_start(job=job_controls.BACKFILL, actor=Actor.api(request.auth))


class JobsDrainApi(_JobsApi):
    @extend_schema(
        operation_id="jobs_drain",
        request=None,
        parameters=[idempotency.PARAMETER],
        responses={200: JobsOutcomeSerializer, **errors_documented(*KEYED, 409, 503)},
        description="Send a refresh drain to the workers now. 409 `jobs_paused` while the jobs are paused; "
        "503 `broker_unavailable` when the task could not be sent (nothing started)." + JOBS_SCOPE,
    )
    def post(self, request):
        return super().post(request)

    def run(self, request):
        return job_controls.jobs_start(job=job_controls.DRAIN, actor=Actor.api(request.auth))
