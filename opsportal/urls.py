from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerView

from opsportal.alerts import web as alerts_web
from opsportal.alerts.web import AlertsApi, MaintenanceApi
from opsportal.api.base import OPS
from opsportal.api.schema import SchemaApi
from opsportal.portal import api as portal_api
from opsportal.portal import errors
from plannings.web.api import PlanningsHealthApi

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
    path("api/schema/", SchemaApi.as_view(), name="schema"),
    # A person reads the docs in a browser: logged out, the admin's login page (and back), not a bare 403.
    path(
        "api/docs/",
        staff_member_required(SpectacularSwaggerView.as_view(url_name="schema"), login_url="admin:login"),
        name="api-docs",
    ),
    path("", include("walletops.web.urls")),  # wallet ops' routes under OPS
    # /queues reads both apps and /audit is the project's record: the portal's views, at the same prefix.
    path(f"{OPS}queues", portal_api.QueuesApi.as_view(), name="api-queues"),
    path(f"{OPS}audit", portal_api.AuditApi.as_view(), name="api-audit"),
    path(f"{OPS}alerts", AlertsApi.as_view(), name="api-alerts"),
    path(f"{OPS}maintenance", MaintenanceApi.as_view(), name="api-maintenance"),
    path(f"{OPS}alerts/<int:pk>/acknowledge", alerts_web.AlertAcknowledgeApi.as_view(), name="api-alert-acknowledge"),
    path(
        f"{OPS}alerts/<int:pk>/unacknowledge",
        alerts_web.AlertUnacknowledgeApi.as_view(),
        name="api-alert-unacknowledge",
    ),
    path(f"{OPS}alerts/<int:pk>/mute", alerts_web.AlertMuteApi.as_view(), name="api-alert-mute"),
    path(f"{OPS}alerts/<int:pk>/unmute", alerts_web.AlertUnmuteApi.as_view(), name="api-alert-unmute"),
    path(f"{OPS}alert-channels/<int:pk>/test", alerts_web.ChannelTestApi.as_view(), name="api-alert-channel-test"),
    path("", include("plannings.web.urls")),  # the plannings' and jobs' actions under OPS
    # Last: any other /api/ path is a JSON 404 in its prefix's shape, with DEBUG on too.
    re_path(r"^api/(?P<rest>.*)$", errors.api_route_missing),
]
