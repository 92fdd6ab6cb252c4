from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "opsportal.alerts"
    label = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.alerts import scopes

        scopes.scopes_register()
