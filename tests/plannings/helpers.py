"""Helpers shared by the plannings tests: the health report's golden world."""

from datetime import UTC, datetime, timedelta

from tests import factories

GOLDEN_NOW = datetime(2026, 3, 10, 20, 0, 0, tzinfo=UTC)  # 21:00 in Paris: quiet hours
# Recorded from the dict-building health code, before the report became a dataclass: the wire format must not move.
GOLDEN_FULL = (
    b'{"status":"degraded","issues":["High disabled: 2/7 (29%)"],'
    b'"workers":{"backfill":"idle","refreshWorker":"working"},'
    b'"inQuietHours":true,"queue":{"depth":1,"ready":1,"locked":0},"backups":{"total":7,"covered":4,"disabled":2},'
    b'"lastBackupWrite":{"planningFullId":"enscr.p0","changed":false,"nbEvents":0,"at":"2026-03-10T19:59:58.123Z"},'
    b'"failedHosts":[{"host":"enscr","count":1,"lastFailure":"http_404"},{"host":"insa","count":1,"lastFailure":null}],'
    b'"recentFailures":[{"planningFullId":"enscr.p5","failureKind":"http_404","failures":3,'
    b'"disabledUntil":"2026-03-10T22:00:00.000Z"},{"planningFullId":"insa.a.b","failureKind":null,"failures":7,'
    b'"disabledUntil":"2026-03-11T20:00:00.456Z"}]}'
)


def full_world() -> None:
    """Every field filled: an issue, quiet hours, a last write, failed hosts and recent failures (one kind null)."""
    from plannings.models import JobsSharedState

    factories.runtime_make("plannings-backfill", "idle")
    factories.runtime_make("plannings-refresh-worker", "working")
    plannings = factories.plannings_make(6, school="enscr") + [factories.planning_make("insa.a.b")]
    for planning in plannings[:4]:
        factories.backup_make(planning)
    factories.queue_item_make(plannings[4])
    factories.disabled_state_make(
        plannings[5], until=GOLDEN_NOW + timedelta(hours=2), kind="http_404", consecutive_failures=3
    )
    factories.disabled_state_make(
        plannings[6], until=GOLDEN_NOW + timedelta(days=1, microseconds=456789), kind=None, consecutive_failures=7
    )
    JobsSharedState.objects.create(
        last_write_planning_full_id="enscr.p0",
        last_write_changed=False,
        last_write_nb_events=0,
        last_write_at=datetime(2026, 3, 10, 19, 59, 58, 123456, tzinfo=UTC),
    )
