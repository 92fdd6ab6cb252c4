from django.contrib import admin
from django.urls import path

from plannings.api import PlanningsHealthApi

urlpatterns = [
    path("admin/", admin.site.urls),
    # Upstream's path, kept exactly (no trailing slash) so existing monitors work.
    path("api/ops/plannings", PlanningsHealthApi.as_view(), name="ops-plannings-health"),
]
