"""Default rules are seeded, thresholds are validated, mutes are audited."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsportal.alerts.models import Mute, Rule
from opsportal.alerts.services import mute_create, mute_delete
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import Actor

pytestmark = pytest.mark.django_db


def test_the_default_rules_are_seeded_one_per_kind_with_the_host_thresholds_of_the_settings(settings):
    rules = {rule.kind: rule for rule in Rule.objects.all()}
    assert set(rules) == set(Rule.Kind.values)
    assert rules["host"].thresholds == {
        "cpu": settings.WALLETOPS_CPU_THRESHOLD,
        "mem": settings.WALLETOPS_MEM_THRESHOLD,
    }
    assert rules["queue"].threshold("depth") == 1000 and rules["plannings_health"].threshold("status") == "degraded"
    assert all(rule.enabled for rule in rules.values())


@pytest.mark.parametrize(
    ("kind", "thresholds", "message"),
    [
        ("host", {"cpu": 1.5}, "cpu: a fraction above 0, at most 1"),
        ("host", {"disk": 0.5}, "unknown for host: disk; known: cpu, mem"),
        ("queue", {"depth": -1}, "depth: a whole number"),
        ("queue", {"depth": True}, "depth: a whole number"),
        ("queue", {"not_falling_seconds": 0}, "not_falling_seconds: above 0, at most 3600"),
        ("queue", {"not_falling_seconds": 7200}, "not_falling_seconds: above 0, at most 3600"),
        ("plannings_health", {"status": "healthy"}, "status: degraded or unhealthy"),
        ("container", {"stopped": "yes"}, "stopped: true or false"),
    ],
)
def test_a_bad_threshold_is_refused_with_a_message_naming_it(kind, thresholds, message):
    rule = Rule(name="r", kind=kind, thresholds=thresholds)
    with pytest.raises(ValidationError) as refused:
        rule.clean()
    assert message in str(refused.value)


def test_a_good_threshold_and_a_missing_one_taking_its_default():
    rule = Rule(name="r", kind="host", thresholds={"cpu": 0.5})
    rule.clean()
    assert (rule.threshold("cpu"), rule.threshold("mem")) == (0.5, 0.85)


def test_a_rule_target_pattern_covers_only_its_targets():
    rule = Rule(kind="container", target="wallet-core-production-*")
    assert rule.covers("wallet-core-production-web-1") and not rule.covers("wallet-core-staging-web-1")
    assert Rule(kind="container").covers("anything")


def test_a_mute_and_its_removal_are_audited_with_who_what_and_why():
    rule = Rule.objects.get(kind="host")
    until = timezone.now() + timedelta(hours=2)
    mute = mute_create(actor=Actor.cli("ops"), rule=rule, target="db-*", until=until, reason="disk swap tonight")
    event = AuditEvent.objects.get(action="alerts.mute")
    assert (event.actor, event.targets, event.target_type) == ("ops", ["Hosts:db-*"], "alert_rule")
    assert "disk swap tonight" in event.detail and mute.created_by == "ops"
    mute_delete(actor=Actor.cli("ops"), mute=mute)
    assert AuditEvent.objects.filter(action="alerts.unmute").count() == 1 and not Mute.objects.exists()


def test_a_mute_needs_a_rule_or_a_target_and_a_future_end():
    with pytest.raises(ValidationError, match="Mute a rule, a target, or both"):
        Mute(until=timezone.now() + timedelta(hours=1), reason="x").clean()
    with pytest.raises(ValidationError, match="a time in the future"):
        Mute(target="x", until=timezone.now() - timedelta(seconds=1), reason="x").clean()
