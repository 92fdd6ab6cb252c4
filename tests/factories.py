"""Small builders for plannings test data: each returns the saved row, with overridable fields."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from plannings.models import (
    JobRuntime,
    JobsSharedState,
    Planning,
    PlanningBackup,
    PlanningRefreshQueue,
    PlanningRefreshState,
)


def planning_make(full_id: str = "school.group.leaf", **fields) -> Planning:
    fields.setdefault("planning_id", full_id.split(".", 1)[0])
    fields.setdefault("url", f"https://feeds.example.test/{full_id}.ics")
    fields.setdefault("title", full_id.rsplit(".", 1)[-1])
    return Planning.objects.create(full_id=full_id, **fields)


def plannings_make(count: int, *, school: str = "school") -> list[Planning]:
    return Planning.objects.bulk_create(
        Planning(full_id=f"{school}.p{i}", planning_id=school, url=f"https://x.test/{i}", title=f"p{i}")
        for i in range(count)
    )


def backup_make(planning: Planning, **fields) -> PlanningBackup:
    fields.setdefault("events", [])
    fields.setdefault("signature", "d751713988987e9331980363e24189ce")
    return PlanningBackup.objects.create(planning=planning, **fields)


def queue_item_make(planning: Planning, **fields) -> PlanningRefreshQueue:
    return PlanningRefreshQueue.objects.create(planning=planning, **fields)


def state_make(planning: Planning, **fields) -> PlanningRefreshState:
    return PlanningRefreshState.objects.create(planning=planning, **fields)


def disabled_state_make(planning: Planning, *, until: datetime, kind: str = "timeout", **fields):
    return state_make(planning, disabled_until=until, last_failure_kind=kind, **fields)


def runtime_make(job_id: str, state: str = "idle", last_loop_at: datetime | None = None) -> JobRuntime:
    now = timezone.now()
    return JobRuntime.objects.create(
        job_id=job_id, state=state, started_at=now, last_loop_at=last_loop_at or now, updated_at=now
    )


def both_jobs_running(state: str = "idle") -> None:
    runtime_make("plannings-backfill", state)
    runtime_make("plannings-refresh-worker", state)


def jobs_paused() -> JobsSharedState:
    return JobsSharedState.objects.create(paused=True, paused_at=timezone.now(), paused_by="ops")


PLANNINGS_MODELS = ["planning", "planningbackup", "planningrefreshqueue", "planningrefreshstate"]


def plannings_staff_login(client, username: str, *codenames: str):
    """``client`` logged in as a staff user who may view the plannings tables, plus ``codenames``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    views = [f"view_{model}" for model in PLANNINGS_MODELS]
    user.user_permissions.add(*Permission.objects.filter(codename__in=[*views, *codenames]))
    client.force_login(user)
    return client
