from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "opsportal.alerts"
    label = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The token scopes of the alert actions, with what a person needs to hold each (the API kit's registry).
        from opsportal.alerts import delivery, services
        from opsportal.api.scopes import scope_register

        scope_register(
            services.ACKNOWLEDGE_SCOPE,
            needs=(services.ACKNOWLEDGE_PERMISSION,),
            description="acknowledge alerts and take it back (also alerts.acknowledge_alert)",
        )
        scope_register(
            services.MUTE_SCOPE,
            needs=(services.MUTE_PERMISSION, services.UNMUTE_PERMISSION),
            description="mute and unmute alerts (also alerts.add_mute and alerts.delete_mute)",
        )
        scope_register(
            delivery.CHANNEL_TEST_SCOPE,
            needs=(delivery.CHANNEL_TEST_PERMISSION,),
            description="send a channel's test message (also alerts.change_channel)",
        )
