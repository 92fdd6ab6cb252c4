"""The queue rule fires on a queue that is not draining: deep and not falling for a while, or its oldest
ready item waiting too long. A deep queue that drains (the demo's backfill) stays quiet. The default
Queues rule with its default thresholds; passes a minute apart, time moved with time_machine."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.models import Alert, Rule
from opsportal.alerts.services import alerts_evaluate
from plannings.models import PlanningRefreshQueue
from tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TARGET = "plannings_refresh"


@pytest.fixture
def queue_rule(only_rules):
    (rule,) = only_rules("queue")
    assert (rule.grace_evaluations, rule.threshold("depth"), rule.threshold("not_falling_seconds")) == (3, 1000, 600)
    return rule


def _queue(count: int) -> None:
    PlanningRefreshQueue.objects.bulk_create(
        PlanningRefreshQueue(planning=planning, requested_at=timezone.now(), next_attempt_at=timezone.now())
        for planning in factories.plannings_make(count)
    )


def _drain(count: int) -> None:
    done = PlanningRefreshQueue.objects.order_by("pk").values_list("pk", flat=True)[:count]
    PlanningRefreshQueue.objects.filter(pk__in=list(done)).delete()


def _queue_alert() -> Alert | None:
    return Alert.objects.filter(target=TARGET).first()


def test_a_deep_queue_that_keeps_falling_never_fires(queue_rule):
    with time_machine.travel(START, tick=False) as clock:
        _queue(1500)
        for _ in range(25):  # the demo's backfill: deep, drained by 10 a minute, over 1000 throughout
            alerts_evaluate()
            clock.shift(60)
            _drain(10)
    assert PlanningRefreshQueue.objects.count() == 1250 and _queue_alert() is None


def test_a_queue_stuck_over_the_depth_for_ten_minutes_fires_naming_depth_and_window(queue_rule):
    with time_machine.travel(START, tick=False) as clock:
        _queue(1200)
        for _ in range(10):  # minutes 0 to 9: deep, but not yet watched for the window
            alerts_evaluate()
            clock.shift(60)
        assert _queue_alert() is None
        for _ in range(3):  # minutes 10 to 12: not falling for 10 minutes, held for the grace
            alerts_evaluate()
            clock.shift(60)
    alert = _queue_alert()
    assert alert.state == "alerting"
    assert alert.message == "queue plannings_refresh: depth 1200 > 1000, not falling for 10 min"


def test_a_queue_that_wobbles_without_falling_below_its_low_fires(queue_rule):
    with time_machine.travel(START, tick=False) as clock:
        _queue(1200)
        for minute in range(13):  # a few taken, a few more added: 1200, 1195, 1200, 1195...
            alerts_evaluate()
            clock.shift(60)
            if minute % 2:
                more = factories.plannings_make(5, school=f"more{minute}")
                PlanningRefreshQueue.objects.bulk_create(PlanningRefreshQueue(planning=p) for p in more)
            else:
                _drain(5)
    assert _queue_alert().state == "alerting"


def test_a_queue_whose_oldest_ready_item_waits_past_the_limit_fires_though_shallow(queue_rule):
    with time_machine.travel(START, tick=False) as clock:
        _queue(5)
        (late,) = factories.plannings_make(1, school="late")  # backing off after a failure: not ready, not counted
        factories.queue_item_make(late, next_attempt_at=timezone.now() + timedelta(hours=2))
        for _ in range(34):
            alerts_evaluate()
            clock.shift(60)
    alert = _queue_alert()
    assert alert.state == "alerting"
    assert alert.message == "queue plannings_refresh: oldest ready item waiting 33 min > 30 min"


def test_the_pass_remembers_a_falling_queue_as_one_depth(queue_rule):
    from opsportal.alerts.models import EvaluatorState

    with time_machine.travel(START, tick=False) as clock:
        _queue(50)
        for _ in range(5):
            alerts_evaluate()
            clock.shift(60)
            _drain(5)
    memory = EvaluatorState.objects.get().memory["queue_depths"][TARGET]
    assert [depth for _, depth in memory["depths"]] == [30]


def test_the_default_queues_rule_holds_the_new_thresholds(db):
    rule = Rule.objects.get(name="Queues")
    assert rule.thresholds == {
        "depth": 1000,
        "not_falling_seconds": 600,
        "oldest_seconds": 1800,
        "failures_last_hour": 10,
    }
