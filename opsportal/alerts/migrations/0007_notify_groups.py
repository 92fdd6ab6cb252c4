"""Notification groups (a notification lists its alerts), e-mail HTML bodies, a channel's "send open
alerts" switch, and the alert state "gone" (closed: no longer observed)."""

from django.db import migrations, models

BATCH = 1000


def groups_from_single_alerts(apps, schema_editor):
    """Every notification sent before groups lists its one alert, so "who heard this alert" reads one table."""
    Notification = apps.get_model("alerts", "Notification")
    Through = Notification.alerts.through
    rows = Notification.objects.filter(alert__isnull=False).order_by("pk").values_list("pk", "alert_id")
    last = 0
    while batch := list(rows.filter(pk__gt=last)[:BATCH]):
        Through.objects.bulk_create([Through(notification_id=pk, alert_id=alert_id) for pk, alert_id in batch])
        last = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0006_ack_mute_maintenance"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="send_open_alerts",
            field=models.BooleanField(
                default=True,
                help_text="Added or switched on, it is sent the alerts firing then, in one message.",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="alerts",
            field=models.ManyToManyField(blank=True, related_name="grouped_notifications", to="alerts.alert"),
        ),
        migrations.AddField(
            model_name="notification",
            name="body_html",
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name="alert",
            name="state",
            field=models.CharField(
                choices=[
                    ("ok", "ok (cleared before firing)"),
                    ("pending", "pending"),
                    ("alerting", "alerting"),
                    ("resolved", "resolved"),
                    ("gone", "closed: no longer observed"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RunPython(groups_from_single_alerts, migrations.RunPython.noop),
    ]
