"""The trail's ``changes`` (before/after of the fields an action changed) and its hash chain's two columns."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_roles")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="changes",
            field=models.JSONField(
                blank=True, default=dict, help_text='the fields changed: {"field": [before, after]}, secrets masked'
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", help_text="the previous row's row_hash", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(
                blank=True, default="", help_text="SHA-256 of this row and prev_hash", max_length=64
            ),
        ),
    ]
