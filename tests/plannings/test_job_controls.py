"""The jobs' controls as services: pause, resume and start a job now decide the actor's rights, say what
changed, and leave one audit row each (refusals too)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User

from opsportal.api.tokens import api_token_create
from opsportal.audit.models import AuditEvent
from opsportal.lib.actors import Actor
from plannings import job_controls, runtime

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _actor(role: str) -> Actor:
    user = User.objects.create_user(f"{role.lower()}-user", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return Actor.portal(User.objects.get(pk=user.pk))


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent, recorded in place of the broker (the broker's outage has its own test, on the page)."""
    calls = []
    for _action, task, _kwargs in job_controls.STARTABLE.values():
        monkeypatch.setattr(task, "apply_async", lambda *a, task=task, **kw: calls.append((task.name, kw["kwargs"])))
    return calls


def _actions() -> list[tuple[str, str, int | None]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "changed"))


def test_pause_then_pause_again_then_resume_say_whether_the_switch_moved():
    operator = _actor("Operator")

    first = job_controls.jobs_switch(paused=True, actor=operator, now=NOW)
    again = job_controls.jobs_switch(paused=True, actor=operator, now=NOW)
    resumed = job_controls.jobs_switch(paused=False, actor=operator, now=NOW)

    assert (first.changed, first.paused) == (True, True)
    assert (again.changed, again.detail) == (False, "already paused")
    assert (resumed.changed, resumed.paused) == (True, False)
    assert not runtime.jobs_paused()
    assert _actions() == [("jobs.pause", "ok", 1), ("jobs.pause", "ok", 0), ("jobs.resume", "ok", 1)]


def test_a_viewer_may_not_pause_and_the_refusal_is_recorded():
    with pytest.raises(job_controls.JobControlRefused) as refused:
        job_controls.jobs_switch(paused=True, actor=_actor("Viewer"), now=NOW)
    assert refused.value.code == "forbidden"
    assert not runtime.jobs_paused()
    assert _actions() == [("jobs.pause", "refused", None)]


def test_a_token_without_the_jobs_scope_is_refused_even_for_an_operator():
    owner = User.objects.create_user("op", is_staff=True)
    owner.groups.add(Group.objects.get(name="Operator"))
    token = Actor.api(api_token_create(name="t", scopes=["read", "plannings:operate"], owner=owner).token)
    with pytest.raises(job_controls.JobControlRefused, match="lacks the 'jobs:control' scope"):
        job_controls.jobs_start(job=job_controls.DRAIN, actor=token)


def test_starting_a_job_sends_its_task_once_and_records_it(sent):
    operator = _actor("Operator")
    job_controls.jobs_start(job=job_controls.BACKFILL, actor=operator)
    job_controls.jobs_start(job=job_controls.DRAIN, actor=operator)
    assert sent == [("plannings.backfill", {}), ("plannings.refresh_poll", {"wake": True})]
    assert _actions() == [("jobs.run_backfill", "ok", None), ("jobs.run_drain", "ok", None)]


def test_while_paused_a_start_is_refused_as_a_conflict_and_nothing_is_sent(sent):
    operator = _actor("Operator")
    job_controls.jobs_switch(paused=True, actor=operator, now=NOW)
    with pytest.raises(job_controls.JobControlRefused) as refused:
        job_controls.jobs_start(job=job_controls.BACKFILL, actor=operator)
    assert refused.value.code == "paused"
    assert sent == []
    assert _actions()[-1] == ("jobs.run_backfill", "refused", None)
