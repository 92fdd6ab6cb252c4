"""``ApiToken`` moves from wallet ops to the API kit: in Django's state only.

The table keeps its name (``walletops_api_token``) and its rows, so every token stays valid, and
the restart ledger's foreign key still points at it (``walletops.0005``). The content type row is
renamed in place (``walletops.apitoken`` → ``opsapi.apitoken``), so the token permissions keep their
ids and every group and user that holds them (``opsapi.add_apitoken``, ``opsapi.delete_apitoken``,
``opsapi.manage_all_tokens``, formerly ``walletops.*``) keeps them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if ContentType.objects.filter(app_label=new, model="apitoken").exists():
        return  # already there (created by a post_migrate of an earlier run): nothing to rename
    ContentType.objects.filter(app_label=old, model="apitoken").update(app_label=new)


def forwards(apps, schema_editor):
    content_type_move(apps, schema_editor, old="walletops", new="opsapi")


def backwards(apps, schema_editor):
    content_type_move(apps, schema_editor, old="opsapi", new="walletops")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("walletops", "0004_health_check_permission"),
        # The roles were granted the walletops.* token permissions by name: before the rename.
        ("audit", "0002_roles"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        ("prefix", models.CharField(max_length=16, unique=True)),
                        ("secret_hash", models.CharField(max_length=64)),
                        (
                            "scopes",
                            models.CharField(
                                help_text="comma-separated scope names (opsportal.api.scopes)", max_length=100
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                editable=False,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="issued_api_tokens",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "walletops_api_token",
                        "ordering": ["-created_at"],
                        "permissions": [
                            ("manage_all_tokens", "Can issue API tokens owned by others, and list and revoke them")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
