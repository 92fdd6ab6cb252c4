"""Upstream PlanningSup's four tables, with its column names, defaults and indexes.

This migration holds only the mirrored tables, so that ``migrate --fake-initial``
recognises an existing PlanningSup database (every table present) and adopts it.
0002 then gives a fresh PostgreSQL database upstream's constraints.
"""

import django.db.models.deletion
import plannings.models
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Planning",
            fields=[
                (
                    "full_id",
                    models.CharField(max_length=255, primary_key=True, serialize=False),
                ),
                ("planning_id", models.CharField(max_length=255)),
                ("url", models.TextField(blank=True, null=True)),
                ("title", models.TextField(blank=True, null=True)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
            ],
            options={
                "db_table": "plannings",
                "ordering": ["full_id"],
            },
        ),
        migrations.CreateModel(
            name="PlanningBackup",
            fields=[
                (
                    "planning",
                    models.OneToOneField(
                        db_column="planning_full_id",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="backup",
                        serialize=False,
                        to="plannings.planning",
                    ),
                ),
                ("events", models.JSONField()),
                ("signature", models.TextField()),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
            ],
            options={
                "db_table": "plannings_backup",
            },
        ),
        migrations.CreateModel(
            name="PlanningRefreshQueue",
            fields=[
                (
                    "planning",
                    models.OneToOneField(
                        db_column="planning_full_id",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="refresh_queue",
                        serialize=False,
                        to="plannings.planning",
                    ),
                ),
                ("priority", models.IntegerField(db_default=0, default=0)),
                ("attempts", models.IntegerField(db_default=0, default=0)),
                (
                    "requested_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
                (
                    "next_attempt_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
                ("locked_at", models.DateTimeField(blank=True, null=True)),
                ("lock_owner", models.TextField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "refresh queue item",
                "db_table": "plannings_refresh_queue",
            },
        ),
        migrations.CreateModel(
            name="PlanningRefreshState",
            fields=[
                (
                    "planning",
                    models.OneToOneField(
                        db_column="planning_full_id",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="refresh_state",
                        serialize=False,
                        to="plannings.planning",
                    ),
                ),
                ("disabled_until", models.DateTimeField(blank=True, null=True)),
                ("consecutive_failures", models.IntegerField(db_default=0, default=0)),
                ("last_failure_kind", models.TextField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, null=True)),
                ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=plannings.models.TransactionNow(),
                        default=django.utils.timezone.now,
                    ),
                ),
            ],
            options={
                "verbose_name": "refresh state",
                "db_table": "plannings_refresh_state",
            },
        ),
        migrations.AddIndex(
            model_name="planning",
            index=models.Index(fields=["title"], name="plannings_title_idx"),
        ),
        migrations.AddIndex(
            model_name="planningbackup",
            index=models.Index(fields=["updated_at"], name="plannings_backup_latest_updated_at_idx"),
        ),
        migrations.AddIndex(
            model_name="planningrefreshqueue",
            index=models.Index(
                fields=["next_attempt_at", "priority", "requested_at"],
                name="plannings_refresh_queue_pick_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="planningrefreshqueue",
            index=models.Index(
                fields=["next_attempt_at"],
                name="plannings_refresh_queue_next_attempt_at_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="planningrefreshqueue",
            index=models.Index(fields=["priority"], name="plannings_refresh_queue_priority_idx"),
        ),
        migrations.AddIndex(
            model_name="planningrefreshstate",
            index=models.Index(
                fields=["disabled_until"],
                name="plannings_refresh_state_disabled_until_idx",
            ),
        ),
    ]
