from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from opsportal.portal import api as portal_api
from opsportal.portal import errors
from plannings.web.api import PlanningsHealthApi
from walletops.web import api as walletops_api

OPS = "api/v1/admin/ops/"

# Under /api/ every error is JSON in the endpoint's own shape; the portal keeps Django's pages.
handler400 = "opsportal.portal.errors.bad_request"
handler403 = "opsportal.portal.errors.permission_denied"
handler404 = "opsportal.portal.errors.page_not_found"
handler500 = "opsportal.portal.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Upstream's path, kept exactly (no trailing slash) so existing monitors work.
    path("api/ops/plannings", PlanningsHealthApi.as_view(), name="ops-plannings-health"),
    path("metrics", portal_api.MetricsView.as_view(), name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(f"{OPS}containers", walletops_api.ContainersApi.as_view(), name="ops-containers"),
    path(f"{OPS}containers/<str:name>", walletops_api.ContainerDetailApi.as_view(), name="ops-container"),
    path(f"{OPS}containers/<str:name>/logs", walletops_api.ContainerLogsApi.as_view(), name="ops-container-logs"),
    path(
        f"{OPS}containers/<str:name>/health-check",
        walletops_api.ContainerHealthCheckApi.as_view(),
        name="ops-container-health-check",
    ),
    path(f"{OPS}hosts", walletops_api.HostsApi.as_view(), name="ops-hosts"),
    path(f"{OPS}queues", portal_api.QueuesApi.as_view(), name="ops-queues"),
    path(f"{OPS}deploy-info", walletops_api.DeployInfoApi.as_view(), name="ops-deploy-info"),
    path(
        f"{OPS}containers/<str:name>/restart", walletops_api.ContainerRestartApi.as_view(), name="ops-container-restart"
    ),
    # Last: any other /api/ path is a JSON 404 in its prefix's shape, with DEBUG on too.
    re_path(r"^api/(?P<rest>.*)$", errors.api_route_missing),
]
