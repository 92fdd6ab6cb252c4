from django.apps import AppConfig

RULE_FIELDS = (
    "name", "kind", "target", "thresholds", "grace_evaluations", "grace_seconds", "reminder_seconds",
    "flap_transitions", "flap_window_seconds", "enabled",
)  # fmt: skip
WINDOW_FIELDS = (
    "name", "reason", "rule", "target", "recurrence", "starts_at", "ends_at", "weekdays", "start_time",
    "duration_minutes",
)  # fmt: skip


class AlertsConfig(AppConfig):
    name = "opsportal.alerts"
    label = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.alerts import deploy_timeline, scopes
        from opsportal.alerts.delivery import url_masked
        from opsportal.alerts.models import Channel, MaintenanceWindow, Mute, Rule
        from opsportal.audit.changes import audit_track

        scopes.scopes_register()
        deploy_timeline.timeline_sources_register()  # the alerts fired and resolved in the deploy timeline
        # Rules, channels (their URL masked: it may hold credentials), mutes and maintenance windows are on the
        # record with a before/after of what changed, whichever way they are changed (opsportal/audit/changes.py).
        audit_track(Rule, action="alerts.rule", target_type="alert_rule", fields=RULE_FIELDS, name=lambda r: r.name)
        audit_track(Channel, action="alerts.channel", target_type="alert_channel",
                    fields=("name", "kind", "url", "kinds", "enabled", "send_open_alerts"),
                    masks={"url": lambda url: url_masked(url) if url else ""}, name=lambda c: c.name)  # fmt: skip
        audit_track(Mute, action="alerts.mute", target_type="alert_mute",
                    fields=("rule", "target", "until", "reason", "alert"), name=str)  # fmt: skip
        audit_track(MaintenanceWindow, action="alerts.maintenance", target_type="maintenance_window",
                    fields=WINDOW_FIELDS, name=lambda w: f"{w.pk}:{w.name}")  # fmt: skip
