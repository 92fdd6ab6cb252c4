"""Wallet ops' REST routes under ``/api/v1/admin/ops/``, included by ``opsportal.urls`` before its ``/api/`` catch-all.

``/queues`` and ``/metrics`` read both apps: their routes are the project's (``opsportal.urls``).
"""

from django.urls import path

from walletops.web import api

OPS = "api/v1/admin/ops/"

urlpatterns = [
    path(f"{OPS}containers", api.ContainersApi.as_view(), name="ops-containers"),
    path(f"{OPS}containers/<str:name>", api.ContainerDetailApi.as_view(), name="ops-container"),
    path(f"{OPS}containers/<str:name>/logs", api.ContainerLogsApi.as_view(), name="ops-container-logs"),
    path(f"{OPS}logs", api.MergedLogsApi.as_view(), name="ops-logs"),
    path(
        f"{OPS}containers/<str:name>/health-check",
        api.ContainerHealthCheckApi.as_view(),
        name="ops-container-health-check",
    ),
    path(f"{OPS}hosts", api.HostsApi.as_view(), name="ops-hosts"),
    path(f"{OPS}deploy-info", api.DeployInfoApi.as_view(), name="ops-deploy-info"),
    path(f"{OPS}audit", api.AuditApi.as_view(), name="ops-audit"),
    path(f"{OPS}containers/<str:name>/restart", api.ContainerRestartApi.as_view(), name="ops-container-restart"),
]
