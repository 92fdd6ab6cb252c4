"""The alert history is kept OPSPORTAL_ALERTS_RETENTION_DAYS (closed alerts with their notifications,
channel test messages), pruned hourly in bounded batches; the Alerts list reads along an index."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from opsportal.alerts.models import Alert, Channel, Notification, Rule
from opsportal.alerts.services import alerts_prune
from opsportal.alerts.tasks import alerts_prune_task

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def _closed(rule, target: str, resolved_at: datetime, channel: Channel) -> Alert:
    alert = Alert.objects.create(
        rule=rule, target=target, state="resolved", started_at=resolved_at - timedelta(hours=1), resolved_at=resolved_at
    )
    Notification.objects.create(alert=alert, channel=channel, kind="resolved", status="sent", title="t", body="b")
    return alert


def test_closed_alerts_and_test_messages_are_kept_exactly_the_retention_then_pruned(settings):
    settings.OPSPORTAL_ALERTS_RETENTION_DAYS = 30
    rule, hook = Rule.objects.get(kind="container"), Channel.objects.create(name="h", kind="webhook", url="http://h.x/")
    cutoff = NOW - timedelta(days=30)
    kept = _closed(rule, "kept", cutoff, hook)
    gone = _closed(rule, "gone", cutoff - timedelta(seconds=1), hook)
    still_open = Alert.objects.create(rule=rule, target="open", state="alerting", started_at=cutoff - timedelta(days=9))
    for name, created_at in (("test kept", cutoff), ("test gone", cutoff - timedelta(seconds=1))):
        Notification.objects.create(
            channel=hook, kind="test", status="sent", title=name, body="b", created_at=created_at
        )
    with time_machine.travel(NOW, tick=False):
        assert alerts_prune_task.apply().get() == {"alerts": 1, "tests": 1}
    assert set(Alert.objects.values_list("pk", flat=True)) == {kept.pk, still_open.pk}
    assert not Notification.objects.filter(alert_id=gone.pk).exists()  # went with its alert
    assert set(Notification.objects.values_list("title", flat=True)) == {"t", "test kept"}
    assert Notification.objects.filter(alert=kept).count() == 1


def test_the_retention_is_a_setting_read_at_each_run(settings):
    rule, hook = Rule.objects.get(kind="container"), Channel.objects.create(name="h", kind="webhook", url="http://h.x/")
    _closed(rule, "ten days ago", NOW - timedelta(days=10), hook)
    settings.OPSPORTAL_ALERTS_RETENTION_DAYS = 11
    with time_machine.travel(NOW, tick=False):
        assert alerts_prune() == {"alerts": 0, "tests": 0}
        settings.OPSPORTAL_ALERTS_RETENTION_DAYS = 9
        assert alerts_prune() == {"alerts": 1, "tests": 0}


def test_one_prune_run_deletes_a_bounded_number_of_rows_and_the_next_runs_finish(settings):
    rule, hook = Rule.objects.get(kind="container"), Channel.objects.create(name="h", kind="webhook", url="http://h.x/")
    for n in range(5):
        _closed(rule, f"old-{n}", NOW - timedelta(days=60), hook)
    with time_machine.travel(NOW, tick=False):
        assert alerts_prune(batch=2, batches=2) == {"alerts": 4, "tests": 0}
        assert Alert.objects.count() == 1
        assert alerts_prune(batch=2, batches=2) == {"alerts": 1, "tests": 0}
    assert not Alert.objects.exists() and not Notification.objects.exists()


def test_the_prune_runs_hourly_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-prune"]
    assert (entry["task"], entry["schedule"]) == ("alerts.prune", 3600.0)
    from opsportal.celery import app

    app.loader.import_default_modules()
    assert "alerts.prune" in app.tasks


@pytest.mark.postgres_only
def test_the_alerts_list_is_read_along_an_index_in_its_order():
    from opsportal.alerts.models import LIST_ORDER
    from opsportal.alerts.selectors import alerts_list

    rule = Rule.objects.get(kind="container")
    Alert.objects.bulk_create(
        Alert(rule=rule, target=f"t{n}", state="resolved", is_open=False, started_at=NOW - timedelta(minutes=n))
        for n in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE alerts_alert")
        query = Alert.objects.order_by(*LIST_ORDER)[:100].query  # the expression of models.LIST_ORDER
        sql, params = query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "alerts_list_order" in plan and "Sort" not in plan, plan
    assert len(alerts_list(open_only=False, limit=100)) == 100
