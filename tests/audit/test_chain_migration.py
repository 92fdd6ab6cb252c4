"""The migrations that made the trail the one record: the restart rows it lacked are copied in, then every row
is chained (ids in order, hashes that ``audit_verify`` accepts)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from opsportal.audit.models import AuditEvent

BEFORE = [("walletops", "0004_health_check_permission"), ("audit", "0003_changes_and_hash_chain")]


@pytest.mark.django_db(transaction=True)
def test_restart_rows_the_trail_lacks_are_copied_into_it_and_every_row_is_chained(migrations_restored):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    RestartAudit, OldEvent = apps.get_model("walletops", "RestartAudit"), apps.get_model("audit", "AuditEvent")
    now = timezone.now()
    common = {"env": "production", "container": "wallet-core-production-worker-1"}
    # Before the trail existed: only in the restart audit.
    RestartAudit.objects.create(actor="ana", outcome="refused", detail="no permission", repeats=3,
                                created_at=now - timedelta(days=9), **common)  # fmt: skip
    # Since: in both (the trail's row written when the restart ended) ...
    RestartAudit.objects.create(actor="ci", token_name="deploy", token_owner="ci", outcome="restarted",
                                duration_ms=900, created_at=now - timedelta(hours=1), **common)  # fmt: skip
    OldEvent.objects.create(actor="ci", via="api", token_name="deploy", action="container.restart", outcome="ok",
                            target_type="container", targets=[common["container"]], target_count=1, changed=1,
                            detail="env production: restarted", created_at=now - timedelta(minutes=59))  # fmt: skip
    # ... but an attempt whose process died while the engine worked had none.
    RestartAudit.objects.create(actor="ci", token_name="deploy", outcome="started", created_at=now, **common)
    OldEvent.objects.create(actor="ana", via="portal", action="jobs.pause", outcome="ok", created_at=now)

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    restarts = AuditEvent.objects.filter(action="container.restart").order_by("created_at")
    assert list(restarts.values_list("actor", "via", "outcome")) == [
        ("ana", "portal", "refused"), ("ci", "api", "ok"), ("ci", "api", "failed"),
    ]  # fmt: skip
    assert "and 3 more refusals that minute (from the restart ledger)" in restarts[0].detail
    assert restarts[2].detail.startswith("env production: never finished (its process died)")
    assert AuditEvent.objects.count() == 4 and not AuditEvent.objects.filter(row_hash="").exists()
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("OK: 4 rows")
