from django.db import migrations, models
import django.utils.timezone


class Migration(migrations.Migration):
    """The portal's own job tables: runtime state and shared switches (not upstream's)."""

    dependencies = [("plannings", "0002_upstream_constraints")]

    operations = [
        migrations.CreateModel(
            name="JobRuntime",
            fields=[
                (
                    "job_id",
                    models.CharField(max_length=64, primary_key=True, serialize=False),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("starting", "Starting"),
                            ("idle", "Idle"),
                            ("working", "Working"),
                            ("paused", "Paused"),
                            ("quiet_hours", "Quiet Hours"),
                            ("stopped", "Stopped"),
                            ("exited", "Exited"),
                            ("crashed", "Crashed"),
                        ],
                        default="starting",
                        max_length=16,
                    ),
                ),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("last_loop_at", models.DateTimeField(blank=True, null=True)),
                ("last_work_at", models.DateTimeField(blank=True, null=True)),
                ("last_error_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "job runtime",
                "db_table": "opsportal_job_runtime",
            },
        ),
        migrations.CreateModel(
            name="JobsSharedState",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("paused", models.BooleanField(default=False)),
                ("paused_at", models.DateTimeField(blank=True, null=True)),
                ("paused_by", models.CharField(blank=True, default="", max_length=150)),
                (
                    "last_write_planning_full_id",
                    models.CharField(blank=True, max_length=255, null=True),
                ),
                ("last_write_changed", models.BooleanField(blank=True, null=True)),
                ("last_write_nb_events", models.IntegerField(blank=True, null=True)),
                ("last_write_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "jobs shared state",
                "verbose_name_plural": "jobs shared state",
                "db_table": "opsportal_jobs_shared_state",
            },
        ),
    ]
