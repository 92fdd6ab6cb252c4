from django.conf import settings
from django.contrib.admin.apps import AdminConfig

from opsportal.lib.folders import local_folders_ensure


class OpsAdminConfig(AdminConfig):
    """The Django admin, with the portal's operations pages added to its site (``opsportal.portal.site``)."""

    default_site = "opsportal.portal.site.OpsAdminSite"

    def ready(self):
        super().ready()
        # Every process sets Django up before it touches the database or the broker: the folders are there by then.
        local_folders_ensure(settings)
