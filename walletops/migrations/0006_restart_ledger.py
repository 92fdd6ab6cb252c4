"""One record: the restart audit becomes the rate limit's ledger, its history goes to the audit trail.

Every restart attempt since the audit trail existed was written twice, to ``walletops_restart_audit`` and
to ``audit_event``. The rows the trail lacks (written before it existed, or ``started`` ones whose process
died) are copied into it, with their outcome, env, duration and token; then the table becomes
``walletops_restart_attempt``, the ledger of the last minute's attempts that the limits count (its old
rows are history, now in the trail, and are emptied). The model is renamed, not replaced, so the
``restart_container`` and ``run_health_check`` permissions keep their grants.
"""

from collections import defaultdict
from datetime import timedelta

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

CHUNK = 1000
OUTCOMES = {"restarted": "ok", "refused": "refused", "failed": "failed", "started": "failed"}


def _detail(row) -> str:
    said = "never finished (its process died)" if row.outcome == "started" else row.outcome
    token = ""
    if row.token_name:
        token = f"; token {row.token_name}, owner {row.token_owner or 'none'}, issued by "
        token += row.token_issued_by or "the command line"
    repeats = f"; and {row.repeats} more refusals that minute" if row.repeats else ""
    return f"env {row.env or '?'}: {said} in {row.duration_ms} ms: {row.detail}{token}{repeats} (from the restart ledger)"


def restarts_copy(apps, schema_editor):
    RestartAudit = apps.get_model("walletops", "RestartAudit")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    # The attempts the trail has already, by who and which container: each was written when its outcome
    # was known, at most its duration (and a minute's slack) after the ledger's row.
    in_trail = defaultdict(list)
    rows = AuditEvent.objects.filter(action="container.restart").values_list("actor", "targets", "created_at")
    for actor, targets, created_at in rows.iterator(chunk_size=CHUNK):
        in_trail[(actor, targets[0] if targets else "")].append(created_at)
    missing = []
    for row in RestartAudit.objects.order_by("created_at", "id").iterator(chunk_size=CHUNK):
        times = in_trail.get((row.actor, row.container), [])
        latest = row.created_at + timedelta(milliseconds=row.duration_ms, minutes=1)
        match = next((at for at in times if row.created_at <= at <= latest), None)
        if match is not None:
            times.remove(match)
            continue
        missing.append(
            AuditEvent(
                created_at=row.created_at,
                actor=row.actor,
                via="api" if row.token_name else "portal",
                token_name=row.token_name,
                action="container.restart",
                target_type="container",
                targets=[row.container],
                target_count=1,
                changed=1 if row.outcome == "restarted" else 0,
                outcome=OUTCOMES.get(row.outcome, "failed"),
                detail=_detail(row)[:2000],
            )
        )
        if len(missing) >= CHUNK:
            AuditEvent.objects.bulk_create(missing)
            missing = []
    AuditEvent.objects.bulk_create(missing)
    RestartAudit.objects.all().delete()
    # The ledger has no admin page: its model's add/change/delete/view permissions grant nothing any more.
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="walletops", codename__endswith="_restartaudit").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("walletops", "0005_apitoken_moved_to_opsapi"),
        ("audit", "0003_changes_and_hash_chain"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(restarts_copy, migrations.RunPython.noop),
        migrations.RenameModel("RestartAudit", "RestartAttempt"),
        migrations.AlterModelTable(name="restartattempt", table="walletops_restart_attempt"),
        *[
            migrations.RemoveField(model_name="restartattempt", name=name)
            for name in (
                "token_name", "token_owner", "token_issued_by", "env", "container", "detail", "duration_ms", "repeats",
            )
        ],  # fmt: skip
        migrations.AlterField(
            model_name="restartattempt",
            name="actor",
            field=models.CharField(help_text="the token's owner or the portal user", max_length=150),
        ),
        migrations.AlterField(
            model_name="restartattempt",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="restartattempt",
            name="outcome",
            field=models.CharField(choices=[("admitted", "Admitted"), ("refused", "Refused")], max_length=16),
        ),
        migrations.AlterField(
            model_name="restartattempt",
            name="token",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, to="opsapi.apitoken"
            ),
        ),
        migrations.AlterModelOptions(
            name="restartattempt",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("restart_container", "Can restart containers from the portal"),
                    ("run_health_check", "Can run containers' health checks"),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="restartattempt",
            index=models.Index(fields=["actor", "created_at"], name="restart_attempt_actor"),
        ),
    ]
