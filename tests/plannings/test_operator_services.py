"""The operator's actions as services: the actor decides, the outcome says what changed and what was
skipped and why, a filter is bounded by a maximum, and each call leaves exactly one audit row."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from opsportal.lib.actors import Actor
from plannings import operator_actions as ops
from plannings.models import PlanningRefreshQueue, PlanningRefreshState
from tests import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _person(role: str) -> User:
    user = User.objects.create_user(f"{role.lower()}-user", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh: no permission cache


@pytest.fixture
def operator() -> Actor:
    return Actor.portal(_person("Operator"))


def _rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_refresh_now_says_which_plannings_it_queued_and_why_it_skipped_the_others(operator):
    for full_id in ("s.a", "s.b"):
        factories.planning_make(full_id)
    factories.queue_item_make(
        _planning("s.b"),
        priority=10,
        requested_at=NOW - timedelta(seconds=10),
        next_attempt_at=NOW,
    )

    outcome = ops.plannings_refresh(planning_full_ids=["s.a", "s.b", "s.gone"], now=NOW, actor=operator)

    assert outcome.changed == ("s.a",)
    assert [(s.planning_full_id, s.reason) for s in outcome.skipped] == [("s.b", "throttled"), ("s.gone", "not_found")]
    assert outcome.skipped[0].why == "already requested in the last 30 seconds"
    [row] = _rows(ops.AUDIT_REFRESH_NOW)
    assert (row.outcome, row.changed, row.target_count, row.actor) == ("ok", 1, 3, "operator-user")


def _planning(full_id):
    from plannings.models import Planning

    return Planning.objects.get(pk=full_id)


def test_each_action_reports_its_own_reason_for_a_planning_it_leaves(operator):
    factories.planning_make("s.idle")
    cases = [
        (ops.REENABLE, ops.NOT_DISABLED),
        (ops.RELEASE_LOCK, ops.NOT_LOCKED),
        (ops.RETRY, ops.NOT_WAITING),
    ]
    for action, reason in cases:
        outcome = ops.plannings_operate(action=action, planning_full_ids=["s.idle"], now=NOW, actor=operator)
        assert (outcome.changed, [s.reason for s in outcome.skipped]) == ((), [reason]), action
        assert len(_rows(ops.ACTIONS[action])) == 1, action


def test_re_enable_release_and_retry_change_what_they_say(operator):
    disabled, locked, waiting = (factories.planning_make(f"s.{name}") for name in ("off", "locked", "waiting"))
    factories.state_make(disabled, disabled_until=NOW + timedelta(hours=1), consecutive_failures=3, updated_at=NOW)
    factories.queue_item_make(locked, locked_at=NOW, lock_owner="w1", next_attempt_at=NOW, attempts=1)
    factories.queue_item_make(waiting, attempts=1, next_attempt_at=NOW + timedelta(minutes=5))
    every = ["s.off", "s.locked", "s.waiting"]

    assert ops.plannings_reenable(planning_full_ids=every, now=NOW, actor=operator).changed == ("s.off",)
    assert PlanningRefreshState.objects.get(pk="s.off").disabled_until is None
    assert ops.plannings_release_locks(planning_full_ids=every, actor=operator).changed == ("s.locked",)
    assert PlanningRefreshQueue.objects.get(pk="s.locked").lock_owner is None
    assert ops.plannings_retry_now(planning_full_ids=every, now=NOW, actor=operator).changed == ("s.waiting",)
    assert PlanningRefreshQueue.objects.get(pk="s.waiting").next_attempt_at == NOW


def test_a_viewer_is_refused_changes_nothing_and_the_refusal_is_recorded():
    viewer = Actor.portal(_person("Viewer"))
    factories.planning_make("s.a")

    with pytest.raises(ops.OperatorActionRefused) as refused:
        ops.plannings_refresh(planning_full_ids=["s.a"], now=NOW, actor=viewer)

    assert refused.value.code == "forbidden"
    assert "plannings.operate_plannings" in refused.value.detail
    assert not PlanningRefreshQueue.objects.exists()
    [row] = _rows(ops.AUDIT_REFRESH_NOW)
    assert (row.outcome, row.actor, row.targets) == ("refused", "viewer-user", ["s.a"])


def test_a_token_needs_the_scope_and_its_owner_the_permission():
    owner = _person("Operator")
    factories.planning_make("s.a")
    read_only = Actor.api(api_token_create(name="ro", scopes=["read"], owner=owner).token)
    with pytest.raises(ops.OperatorActionRefused, match="lacks the 'plannings:operate' scope"):
        ops.plannings_refresh(planning_full_ids=["s.a"], now=NOW, actor=read_only)

    viewer = _person("Viewer")
    scoped = Actor.api(api_token_create(name="t", scopes=["plannings:operate"], owner=viewer).token)
    with pytest.raises(ops.OperatorActionRefused, match="owner viewer-user lacks plannings.operate_plannings"):
        ops.plannings_refresh(planning_full_ids=["s.a"], now=NOW, actor=scoped)

    allowed = Actor.api(api_token_create(name="t", scopes=["plannings:operate"], owner=owner).token)
    assert ops.plannings_refresh(planning_full_ids=["s.a"], now=NOW, actor=allowed).changed == ("s.a",)
    assert [row.outcome for row in _rows(ops.AUDIT_REFRESH_NOW)] == ["refused", "refused", "ok"]


def test_a_filter_acts_on_what_it_matches_within_the_maximum(operator):
    factories.plannings_make(3, school="a")
    factories.plannings_make(2, school="b")

    outcome = ops.plannings_operate_matching(
        action=ops.REFRESH, filters={"host": "b"}, maximum=2, now=NOW, actor=operator
    )

    assert outcome.changed == ("b.p0", "b.p1")
    assert set(PlanningRefreshQueue.objects.values_list("pk", flat=True)) == {"b.p0", "b.p1"}


def test_a_filter_matching_more_than_the_maximum_is_refused_whole_and_recorded(operator):
    factories.plannings_make(3, school="a")

    with pytest.raises(ops.OperatorActionRefused) as refused:
        ops.plannings_operate_matching(action=ops.REFRESH, filters={"host": "a"}, maximum=2, now=NOW, actor=operator)

    assert refused.value.code == "too_many"
    assert "more than the maximum of 2" in refused.value.detail
    assert not PlanningRefreshQueue.objects.exists()
    [row] = _rows(ops.AUDIT_REFRESH_NOW)
    assert (row.outcome, row.target_count) == ("refused", 3)


def test_refresh_now_refuses_a_list_over_its_limit(operator, monkeypatch):
    monkeypatch.setattr(ops, "REFRESH_NOW_LIMIT", 2)
    factories.plannings_make(3, school="a")

    with pytest.raises(ops.OperatorActionRefused) as refused:
        ops.plannings_refresh(planning_full_ids=["a.p0", "a.p1", "a.p2"], now=NOW, actor=operator)

    assert refused.value.code == "too_many"
    assert not PlanningRefreshQueue.objects.exists()


def test_an_unknown_filter_is_an_error_not_the_whole_catalog(operator):
    factories.plannings_make(2, school="a")
    with pytest.raises(ValueError, match="unknown filters"):
        ops.plannings_operate_matching(action=ops.REFRESH, filters={"hots": "a"}, maximum=10, now=NOW, actor=operator)
    assert not PlanningRefreshQueue.objects.exists()
