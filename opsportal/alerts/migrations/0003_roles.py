"""The alerts' share of the three roles (audit 0002_roles made the groups): Viewer sees the alerts,
their notifications, rules, channels and mutes; Operator also mutes and unmutes (both audited);
Admin also edits rules and channels (thresholds, grace, Apprise URLs) and sends a channel's test.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR = ("add_mute", "delete_mute")
ADMIN = OPERATOR + ("add_rule", "change_rule", "delete_rule", "add_channel", "change_channel", "delete_channel")


def roles_extend(apps, schema_editor):
    app_config = apps.get_app_config("alerts")
    app_config.models_module = True  # create_permissions skips an app without a models module
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    alerts = Permission.objects.filter(content_type__app_label="alerts")
    views = list(alerts.filter(codename__startswith="view_"))
    granted = {
        "Viewer": views,
        "Operator": views + list(alerts.filter(codename__in=OPERATOR)),
        "Admin": views + list(alerts.filter(codename__in=ADMIN)),
    }
    for role, permissions in granted.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*permissions)


def roles_shrink(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    alerts = Permission.objects.filter(content_type__app_label="alerts")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=("Viewer", "Operator", "Admin")):
        group.permissions.remove(*alerts)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_default_rules"), ("audit", "0002_roles")]

    operations = [migrations.RunPython(roles_extend, roles_shrink)]
