"""Wallet ops' REST routes under ``/api/v1/admin/ops/``, included by ``opsportal.urls`` before its ``/api/`` catch-all.

Route names start ``api-`` (the portal's pages of the same things are ``admin:ops-…``). ``/queues``,
``/metrics`` and ``/audit`` are the project's (``opsportal.urls``).
"""

from django.urls import path

from opsportal.api.base import OPS
from walletops.web import api, deploys

urlpatterns = [
    path(f"{OPS}containers", api.ContainersApi.as_view(), name="api-containers"),
    path(f"{OPS}containers/<str:name>", api.ContainerDetailApi.as_view(), name="api-container"),
    path(f"{OPS}containers/<str:name>/logs", api.ContainerLogsApi.as_view(), name="api-container-logs"),
    path(f"{OPS}logs", api.MergedLogsApi.as_view(), name="api-logs"),
    path(
        f"{OPS}containers/<str:name>/health-check",
        api.ContainerHealthCheckApi.as_view(),
        name="api-container-health-check",
    ),
    path(f"{OPS}hosts", api.HostsApi.as_view(), name="api-hosts"),
    path(f"{OPS}deploys", deploys.DeploysApi.as_view(), name="api-deploys"),
    path(f"{OPS}deploys/drift", deploys.DeploysDriftApi.as_view(), name="api-deploys-drift"),
    path(f"{OPS}deploys/events", deploys.DeployEventsApi.as_view(), name="api-deploy-events"),
    path(f"{OPS}deploy-info", api.DeployInfoApi.as_view(), name="api-deploy-info"),
    path(f"{OPS}containers/<str:name>/restart", api.ContainerRestartApi.as_view(), name="api-container-restart"),
]
