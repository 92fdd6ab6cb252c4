"""The feeds rule kind and its default rule (editable in the admin), as 0002 made the others."""

from django.db import migrations, models

# Thresholds as Rule.THRESHOLDS["feeds"] has them (a copy: a migration must not follow later code).
# Failing shares move slowly and retries clear some: five passes and five minutes, as for hosts.
FEEDS = {
    "host_share": 0.25,
    "host_min_failing": 3,
    "catalog_share": 0.10,
    "covered_drop": 0.01,
    "backup_age_seconds": 3600,
}


def seed(apps, schema_editor):
    apps.get_model("alerts", "Rule").objects.get_or_create(
        name="Feeds",
        defaults={"kind": "feeds", "thresholds": FEEDS, "grace_evaluations": 5, "grace_seconds": 300},
    )


def unseed(apps, schema_editor):
    apps.get_model("alerts", "Rule").objects.filter(name="Feeds", kind="feeds").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_rule_limits_history_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rule",
            name="kind",
            field=models.CharField(
                choices=[
                    ("plannings_health", "plannings health"),
                    ("container", "container"),
                    ("host", "host"),
                    ("queue", "queue"),
                    ("deploy", "deploy"),
                    ("feeds", "feeds"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]
