"""The plannings' and jobs' action routes under ``/api/v1/admin/ops/``, included by ``opsportal.urls``.

``GET /api/ops/plannings`` (PlanningSup's health) keeps its own upstream path, in ``opsportal.urls``.
"""

from django.urls import path

from opsportal.api.base import OPS
from plannings.web import action_api as api
from plannings.web.list_api import PlanningsListApi

urlpatterns = [
    path(f"{OPS}plannings", PlanningsListApi.as_view(), name="api-plannings"),
    path(f"{OPS}plannings/bulk", api.PlanningsBulkApi.as_view(), name="api-plannings-bulk"),
    path(f"{OPS}plannings/<str:full_id>/refresh", api.PlanningRefreshApi.as_view(), name="api-planning-refresh"),
    path(f"{OPS}plannings/<str:full_id>/re-enable", api.PlanningReenableApi.as_view(), name="api-planning-reenable"),
    path(
        f"{OPS}plannings/<str:full_id>/release-lock",
        api.PlanningReleaseLockApi.as_view(),
        name="api-planning-release-lock",
    ),
    path(f"{OPS}plannings/<str:full_id>/retry", api.PlanningRetryApi.as_view(), name="api-planning-retry"),
    path(f"{OPS}jobs/pause", api.JobsPauseApi.as_view(), name="api-jobs-pause"),
    path(f"{OPS}jobs/resume", api.JobsResumeApi.as_view(), name="api-jobs-resume"),
    path(f"{OPS}jobs/backfill", api.JobsBackfillApi.as_view(), name="api-jobs-backfill"),
    path(f"{OPS}jobs/drain", api.JobsDrainApi.as_view(), name="api-jobs-drain"),
]
