"""The admin site is the portal: the model admins plus the operations pages, listed first in its nav.

Operations pages live in each app's ``views`` module (rendered with ``opsportal.lib.pages``); this
site mounts them under ``/admin/ops/`` through ``admin_view`` so they share the admin's login redirect
(non-staff users get the login page), ``never_cache`` and CSRF protection.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse


class OpsAdminSite(admin.AdminSite):
    site_header = "opsportal"
    site_title = "opsportal"
    index_title = "Operations and data"
    # The portal is the whole site: Django's "View site" link would lead to "/", which is no page.
    site_url = None

    def get_urls(self):
        from opsportal.portal import views as dashboard_views
        from plannings.web import views as jobs_views
        from walletops.web import views as container_views

        view = self.admin_view
        ops = [
            path("ops/", view(dashboard_views.dashboard_page), name="ops-dashboard"),
            path("ops/panels/<slug:panel>/", view(dashboard_views.dashboard_panel), name="ops-dashboard-panel"),
            path("ops/readme/", view(dashboard_views.readme_page), name="ops-readme"),
            path("ops/docs/<slug:slug>/", view(dashboard_views.doc_page), name="ops-doc"),
            path("ops/jobs/", view(jobs_views.jobs_page), name="ops-jobs"),
            path("ops/jobs/<slug:action>/", view(jobs_views.jobs_action), name="ops-jobs-action"),
            path("ops/containers/", view(container_views.containers_page), name="ops-containers"),
            path("ops/containers/<str:name>/", view(container_views.container_page), name="ops-container"),
            path(
                "ops/containers/<str:name>/logs/", view(container_views.container_logs_page), name="ops-container-logs"
            ),
            path(
                "ops/containers/<str:name>/logs/stream/",
                view(container_views.container_logs_stream),
                name="ops-container-logs-stream",
            ),
            path("ops/logs/", view(container_views.merged_logs_page), name="ops-logs"),
            path("ops/deploys/", view(container_views.deploys_page), name="ops-deploys"),
            path("ops/logs/stream/", view(container_views.merged_logs_stream), name="ops-logs-stream"),
            path(
                "ops/containers/<str:name>/health-check/",
                view(container_views.container_health_check_page),
                name="ops-container-health-check",
            ),
            path(
                "ops/containers/<str:name>/restart/",
                view(container_views.container_restart_page),
                name="ops-container-restart",
            ),
        ]
        return ops + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        pages = [
            ("Dashboard", "ops-dashboard"),
            ("Containers", "ops-containers"),
            ("Fleet logs", "ops-logs"),
            ("Deploys", "ops-deploys"),
            ("Jobs", "ops-jobs"),
        ]
        operations = {
            "name": "Operations",
            "app_label": "operations",
            "app_url": reverse(f"{self.name}:ops-dashboard"),
            "has_module_perms": True,
            "models": [
                {
                    "name": name,
                    "object_name": name.lower(),
                    "admin_url": reverse(f"{self.name}:{url_name}"),
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                }
                for name, url_name in pages
            ],
        }
        return [operations, *app_list]

    def each_context(self, request):
        context = super().each_context(request)
        nav_current_mark(context.get("available_apps") or [], request.path)
        return context


def nav_current_mark(app_list: list[dict], path: str) -> None:
    """Mark the one navigation item of ``path``: the item whose URL is the longest prefix of it.

    Django's sidebar highlights every item whose URL is *in* the path, so the Dashboard
    (``/admin/ops/``) lit up beside Containers (``/admin/ops/containers/``) on every
    operations page. ``templates/opsportal/nav_app_list.html`` reads these marks instead.
    """
    best: tuple[int, dict, dict] | None = None
    for app in app_list:
        app["current"] = False
        for model in app["models"]:
            model["current"] = False
            url = model.get("admin_url")
            if url and path.startswith(url) and (best is None or len(url) > best[0]):
                best = (len(url), app, model)
    if best is not None:
        best[1]["current"] = best[2]["current"] = True
