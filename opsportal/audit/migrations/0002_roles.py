"""The three roles as groups, ready after ``migrate``: Viewer, Operator, Admin (docs/audit.md, "Roles").

- Viewer: sees every page and list (the audit trail too) and acts on nothing;
- Operator: a Viewer who also runs the operator actions (refresh now, re-enable, release lock, retry
  now), pauses, resumes and starts the jobs, restarts containers, runs their health checks, and issues
  and revokes their own API tokens;
- Admin: an Operator who also issues tokens owned by others and lists and revokes everyone's, and sees
  the users and groups. Managing users and groups stays with superusers: ``auth.change_user`` lets its
  holder grant themselves every permission, which would make Admin a superuser by another name.

``post_migrate`` (which creates permissions) has not run for the apps migrated in the same ``migrate``,
so the permissions are created here first. Permissions are added to a group that already exists (an
operator's own additions stay); going back deletes the three groups, and with them their memberships.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("auth", "audit", "plannings", "walletops")
VIEWED_APPS = ("audit", "plannings", "walletops")
OPERATOR = (
    "plannings.operate_plannings",
    "plannings.control_jobs",
    "walletops.restart_container",
    "walletops.run_health_check",
    "walletops.add_apitoken",
    "walletops.delete_apitoken",
)
ADMIN = ("walletops.manage_all_tokens", "auth.view_user", "auth.view_group")
ROLES = ("Viewer", "Operator", "Admin")


def _permissions_create(apps) -> None:
    for label in APPS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # create_permissions skips an app without a models module
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def roles_create(apps, schema_editor):
    _permissions_create(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def named(names):
        found = []
        for name in names:
            app_label, codename = name.split(".")
            # The oldest of that name: run again after walletops.0006 renamed the restart ledger's model, this
            # state's create_permissions makes its old content type again, with copies of its permissions.
            named_so = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            found.append(named_so.order_by("pk")[:1].get())
        return found

    views = list(Permission.objects.filter(content_type__app_label__in=VIEWED_APPS, codename__startswith="view_"))
    granted = {"Viewer": views, "Operator": views + named(OPERATOR), "Admin": views + named(OPERATOR + ADMIN)}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*granted[role])


def roles_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("plannings", "0007_health_snapshot"),
        ("walletops", "0004_health_check_permission"),
    ]

    operations = [migrations.RunPython(roles_create, roles_delete)]
