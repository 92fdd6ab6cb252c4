from django.contrib.admin.apps import AdminConfig


class OpsAdminConfig(AdminConfig):
    """The Django admin, with the portal's operations pages added to its site (``opsportal.portal.site``)."""

    default_site = "opsportal.portal.site.OpsAdminSite"
