"""The default Queues rule watches a queue that is not draining, not a deep one; the Alerts list's order
puts alerting before pending and the history newest first (an expression, indexed as it is read)."""

from django.db import migrations, models

# Copies (a migration must not follow later code): 0002's seed, and Rule.THRESHOLDS["queue"] now.
QUEUES_BEFORE = {"depth": 1000, "failures_last_hour": 10}
QUEUES = {"depth": 1000, "not_falling_seconds": 600, "oldest_seconds": 1800, "failures_last_hour": 10}


def _swap(apps, before: dict, after: dict) -> None:
    # Only a rule still holding the seed: an operator's own thresholds stay (missing keys take the defaults).
    apps.get_model("alerts", "Rule").objects.filter(name="Queues", kind="queue", thresholds=before).update(
        thresholds=after
    )


def forward(apps, schema_editor):
    _swap(apps, QUEUES_BEFORE, QUEUES)


def backward(apps, schema_editor):
    _swap(apps, QUEUES, QUEUES_BEFORE)


ALERTING_FIRST = models.Case(models.When(state="alerting", then=models.Value(0)), default=models.Value(1))


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0006_ack_mute_maintenance"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="alert",
            options={
                "ordering": [
                    models.OrderBy(models.F("is_open"), descending=True),
                    models.OrderBy(ALERTING_FIRST),
                    models.OrderBy(models.F("started_at"), descending=True),
                ],
                "permissions": [("acknowledge_alert", "Can acknowledge an alert and take it back")],
            },
        ),
        migrations.RemoveIndex(model_name="alert", name="alerts_list_order"),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(
                models.OrderBy(models.F("is_open"), descending=True),
                ALERTING_FIRST,
                models.OrderBy(models.F("started_at"), descending=True),
                name="alerts_list_order",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
