from django.apps import AppConfig


class PlanningsConfig(AppConfig):
    name = "plannings"
    verbose_name = "Plannings refresh"
    default_auto_field = "django.db.models.BigAutoField"
