"""The feeds rule end to end: one alert per host whose share of failing feeds is over its threshold,
one for the whole catalog (share failing, backups covered falling, newest backup too old), each after
its grace and resolving when the failures stop; a pass's statements do not follow the hosts' number;
the defaults make ``make run``'s demo (about 16 % failing on purpose) show them.
Time is moved with time_machine."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.alerts.conditions import condition
from opsportal.alerts.models import Alert, Channel, Notification, Rule
from opsportal.alerts.services import alerts_evaluate
from plannings.models import PlanningBackup, PlanningRefreshState
from scripts.servers.feeds import demo_behaviour
from tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GRACE = dict(grace_evaluations=2, grace_seconds=60, reminder_seconds=0)
CATALOG = Path(__file__).resolve().parents[2] / "data" / "catalog"


@pytest.fixture
def feeds_rule(only_rules):
    (rule,) = only_rules("feeds", **GRACE)
    Channel.objects.create(name="ops hook", kind="webhook", url="http://127.0.0.1:9/hook")
    return rule


def _fail(plannings) -> None:
    for planning in plannings:
        factories.state_make(planning, last_failure_kind="http_5xx", consecutive_failures=1,
                             last_attempt_at=timezone.now())  # fmt: skip


def _recover() -> None:
    PlanningRefreshState.objects.update(last_failure_kind=None, consecutive_failures=0)


def _world() -> dict:
    """Four hosts of 20 feeds, every feed backed up now: two hosts fail hard, one a little, one not."""
    schools = {school: factories.plannings_make(20, school=school) for school in ("iut", "enscr", "insa", "esir")}
    for plannings in schools.values():
        for planning in plannings:
            factories.backup_make(planning)
    _fail(schools["iut"][:10])  # 50 %
    _fail(schools["enscr"][:6])  # 30 %
    _fail(schools["insa"][:2])  # 10 %: under the host share
    return schools  # 18 of 80 failing: 22.5 % of the catalog


def _open() -> dict[str, str]:
    return dict(Alert.objects.filter(is_open=True).values_list("target", "state"))


def test_hosts_over_the_share_and_the_catalog_fire_after_the_grace_and_resolve_when_failures_stop(feeds_rule):
    with time_machine.travel(START, tick=False) as clock:
        _world()
        first = alerts_evaluate()
        assert first.opened == 3 and first.fired == 0
        assert _open() == {"host iut": "pending", "host enscr": "pending", "catalog": "pending"}
        clock.shift(60)
        PlanningBackup.objects.update(updated_at=timezone.now())  # backups keep being written
        assert alerts_evaluate().fired == 3
        assert _open() == {"host iut": "alerting", "host enscr": "alerting", "catalog": "alerting"}
        messages = dict(Alert.objects.values_list("target", "message"))
        assert messages["host iut"] == "host iut: 10 of 20 feeds failing (50%) > 25%"
        assert messages["host enscr"] == "host enscr: 6 of 20 feeds failing (30%) > 25%"
        assert messages["catalog"] == "catalog: 18 of 80 feeds failing (22%) > 10%"
        # One rule firing for three targets in one pass: one notification listing them.
        (fired,) = Notification.objects.all()
        assert fired.title == "[ALERT] Feeds: 3 targets" and fired.alerts.count() == 3

        _recover()
        for _ in range(2):
            clock.shift(60)
            PlanningBackup.objects.update(updated_at=timezone.now())
            result = alerts_evaluate()
        assert result.resolved == 3 and _open() == {}
        (resolved,) = Notification.objects.filter(kind="resolved")
        assert resolved.title == "[RESOLVED] Feeds: 3 targets" and resolved.alerts.count() == 3


def test_a_host_with_few_failing_feeds_does_not_fire_whatever_its_share(feeds_rule):
    with time_machine.travel(START, tick=False):
        tiny = factories.plannings_make(4, school="enssat")
        big = factories.plannings_make(96, school="istic")
        for planning in tiny + big:
            factories.backup_make(planning)
        _fail(tiny[:2])  # 50 % of a host, but two feeds: under host_min_failing (3)
        alerts_evaluate()
        assert _open() == {}
        _fail(tiny[2:3])  # three of four
        alerts_evaluate()
        assert _open() == {"host enssat": "pending"}


def test_backups_covered_falling_within_the_hour_fire_the_catalog_alert(feeds_rule):
    feeds_rule.thresholds = {"catalog_share": 1.0}  # failing feeds are not the point here
    feeds_rule.save()
    with time_machine.travel(START, tick=False) as clock:
        plannings = factories.plannings_make(200, school="iut")
        for planning in plannings:
            factories.backup_make(planning)
        alerts_evaluate()
        assert _open() == {}
        clock.shift(60)
        PlanningBackup.objects.filter(planning__in=plannings[:3]).delete()  # 1.5 % gone
        PlanningBackup.objects.update(updated_at=timezone.now())
        alerts_evaluate()
        alert = Alert.objects.get(is_open=True)
        assert alert.target == "catalog"
        assert alert.message == "catalog: backups covered fell to 197 from 200 within the hour (-2%) > 1%"
        # An hour later the new level is the baseline: the fall is over.
        for _ in range(3):
            clock.shift(timedelta(minutes=30))
            PlanningBackup.objects.update(updated_at=timezone.now())
            alerts_evaluate()
        alert.refresh_from_db()
        assert alert.state == "resolved"


def test_a_newest_backup_older_than_the_limit_fires_and_zero_turns_the_check_off(feeds_rule):
    with time_machine.travel(START, tick=False) as clock:
        (planning,) = factories.plannings_make(1, school="iut")
        factories.backup_make(planning, updated_at=timezone.now())
        alerts_evaluate()
        assert _open() == {}
        clock.shift(timedelta(minutes=61))
        alerts_evaluate()
        assert Alert.objects.get(is_open=True).message == "catalog: newest backup 61 min old > 60 min"
        Alert.objects.all().delete()
        feeds_rule.thresholds = {"backup_age_seconds": 0}
        feeds_rule.save()
        alerts_evaluate()
        assert _open() == {}


def test_plannings_without_any_backup_fire_the_catalog_alert(feeds_rule):
    with time_machine.travel(START, tick=False):
        factories.plannings_make(5, school="iut")
        alerts_evaluate()
    assert Alert.objects.get(is_open=True).message == "catalog: no backup written yet"


def test_a_pass_costs_the_same_statements_for_two_failing_hosts_as_for_twelve(feeds_rule):
    def statements() -> int:
        alerts_evaluate()  # opens what is new; the measured pass only updates open alerts
        with CaptureQueriesContext(connection) as captured:
            alerts_evaluate()
        return len(captured)

    def hosts_failing(schools: range) -> None:
        for school in [f"school{i:02}" for i in schools]:
            plannings = factories.plannings_make(10, school=school)
            factories.backup_make(plannings[0], updated_at=timezone.now())
            _fail(plannings[:5])

    with time_machine.travel(START, tick=False):
        factories.plannings_make(80, school="healthy")  # keeps the catalog under 10 % failing at first
        hosts_failing(range(2))
        two = statements()
        assert set(_open()) == {"host school00", "host school01"}  # 10 of 100 failing: not over 10 %
        hosts_failing(range(2, 12))
        twelve = statements()
        assert len(_open()) == 13  # the twelve hosts and the catalog (60 of 200)
    assert twelve == two


def test_the_default_rule_is_made_with_the_documented_thresholds_and_grace():
    rule = Rule.objects.get(kind="feeds")
    assert (rule.name, rule.grace_evaluations, rule.grace_seconds, rule.enabled) == ("Feeds", 5, 300, True)
    assert (
        rule.thresholds
        == Rule.THRESHOLDS[Rule.Kind.FEEDS]
        == {
            "host_share": 0.25,
            "host_min_failing": 3,
            "catalog_share": 0.10,
            "covered_drop": 0.01,
            "backup_age_seconds": 3600,
        }
    )
    rule.full_clean()


def test_the_admin_refuses_thresholds_a_feeds_rule_cannot_read():
    from django.core.exceptions import ValidationError

    rule = Rule(name="x", kind="feeds", thresholds={"host_share": 25})
    with pytest.raises(ValidationError, match="a fraction above 0, at most 1"):
        rule.full_clean()
    rule.thresholds = {"backup_age_seconds": -1}
    with pytest.raises(ValidationError, match="a whole number"):
        rule.full_clean()


def _demo_catalog() -> dict[str, list[bool]]:
    """``make run``'s demo catalog: per host, whether each feed fails (the feed server's demo mix)."""
    hosts: dict[str, list[bool]] = {}

    def walk(node: dict, prefix: str) -> None:
        full_id = f"{prefix}.{node['id']}"
        for child in node.get("children", []):
            walk(child, full_id)
        if "children" not in node:
            hosts.setdefault(prefix.split(".")[0], []).append(demo_behaviour(full_id) != "ok")

    for source in sorted(CATALOG.glob("*.json")):
        for child in json.loads(source.read_text(encoding="utf-8"))["children"]:
            walk(child, source.stem)
    return hosts


def test_the_defaults_make_the_demo_show_the_catalog_alert_and_some_host_alerts():
    rule = Rule(kind="feeds")  # the defaults
    hosts = _demo_catalog()
    feeds = sum(len(feeds) for feeds in hosts.values())
    failing = sum(sum(feeds) for feeds in hosts.values())
    assert 0.15 < failing / feeds < 0.18  # "about 16 %"
    catalog = {"feeds": feeds, "failing": failing, "covered": 1, "covered_peak": 1, "newest_backup_age": 0}
    assert condition(rule, "catalog", catalog)[0]
    over = [
        host
        for host, flags in hosts.items()
        if condition(rule, f"host {host}", {"feeds": len(flags), "failing": sum(flags)})[0]
    ]
    assert 1 <= len(over) <= 5, over  # some hosts, not every host: the per-host alert points somewhere


def test_the_evaluator_remembers_only_the_backup_counts_that_can_still_be_the_hours_highest(feeds_rule):
    from opsportal.alerts.models import EvaluatorState

    with time_machine.travel(START, tick=False) as clock:
        plannings = factories.plannings_make(30, school="iut")
        for planning in plannings[:20]:  # twenty passes, one more backup each: coverage rising
            factories.backup_make(planning)
            alerts_evaluate()
            clock.shift(60)
        assert [count for _, count in EvaluatorState.objects.get().memory["feeds_covered"]] == [20]
        PlanningBackup.objects.filter(planning__in=plannings[:10]).delete()
        alerts_evaluate()
        assert [count for _, count in EvaluatorState.objects.get().memory["feeds_covered"]] == [20, 10]
        assert "backups covered fell to 10 from 20" in Alert.objects.get(target="catalog").message
