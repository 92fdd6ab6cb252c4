"""The default rules (editable in the admin) and the evaluator's one state row."""

from django.conf import settings
from django.db import migrations

DEFAULTS = [
    # name, kind, thresholds, grace evaluations, grace seconds
    ("Plannings health", "plannings_health", {"status": "degraded"}, 3, 120),
    ("Containers", "container", {"stopped": True, "unhealthy": True, "restarting": True}, 3, 120),
    # CPU spikes for a minute are normal: a host must stay over for five passes and five minutes.
    ("Hosts", "host", None, 5, 300),
    ("Queues", "queue", {"depth": 1000, "failures_last_hour": 10}, 3, 120),
    ("Deploys", "deploy", {}, 1, 0),
]


def seed(apps, schema_editor):
    Rule = apps.get_model("alerts", "Rule")
    EvaluatorState = apps.get_model("alerts", "EvaluatorState")
    for name, kind, thresholds, evaluations, seconds in DEFAULTS:
        if thresholds is None:  # the hosts' thresholds start from the /hosts settings
            thresholds = {"cpu": settings.WALLETOPS_CPU_THRESHOLD, "mem": settings.WALLETOPS_MEM_THRESHOLD}
        Rule.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "thresholds": thresholds,
                "grace_evaluations": evaluations,
                "grace_seconds": seconds,
            },
        )
    EvaluatorState.objects.get_or_create(pk=1)


def unseed(apps, schema_editor):
    apps.get_model("alerts", "Rule").objects.filter(name__in=[row[0] for row in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
