"""The plannings admin for operators: columns, filters, the four actions, their permission, the backup's events."""

import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_list import results
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import strip_tags

from plannings.admin import PlanningAdmin
from plannings.jobs import backfill_select
from plannings.models import (
    LOCK_TTL_SECONDS,
    Planning,
    PlanningBackup,
    PlanningRefreshQueue,
    PlanningRefreshState,
)
from tests import factories

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=LOCK_TTL_SECONDS)
PLANNINGS = "/admin/plannings/planning/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def looker(client, django_user_model):
    """A staff user who may look at the tables but not operate them."""
    return factories.plannings_staff_login(client, "looker")


@pytest.fixture
def operator_client(client, django_user_model):
    return factories.plannings_staff_login(client, "operator", "operate_plannings")


def _act(client, action, selected, *, model="planning", query="", **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: selected, "index": "0", **extra}
    return client.post(f"/admin/plannings/{model}/{query}", data, follow=True)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _queue(full_id: str) -> PlanningRefreshQueue:
    return PlanningRefreshQueue.objects.get(planning_id=full_id)


def _state(full_id: str) -> PlanningRefreshState:
    return PlanningRefreshState.objects.get(planning_id=full_id)


def _snapshot():
    models = (Planning, PlanningBackup, PlanningRefreshQueue, PlanningRefreshState)
    return [list(model.objects.order_by("pk").values()) for model in models]


# --- Refresh now ----------------------------------------------------------------------


def test_refresh_now_queues_each_planning_as_a_user_request(admin_client):
    factories.planning_make("s.a")
    second = factories.planning_make("s.b")
    factories.disabled_state_make(second, until=NOW + timedelta(days=7), kind="http_404", consecutive_failures=3)

    response = _act(admin_client, "refresh_now", ["s.a", "s.b"])

    assert _messages(response) == ["Queued 2 plannings for a refresh."]
    rows = PlanningRefreshQueue.objects.order_by("planning_id")
    assert [(r.planning_id, r.priority, r.requested_at, r.next_attempt_at) for r in rows] == [
        ("s.a", 10, NOW, NOW),
        ("s.b", 10, NOW, NOW),
    ]
    # A user request re-enables the planning (plannings spec §3).
    assert (_state("s.b").disabled_until, _state("s.b").consecutive_failures) == (None, 0)


def test_refresh_now_skips_a_planning_requested_less_than_30_seconds_ago(admin_client):
    factories.planning_make("s.a")
    recent = factories.planning_make("s.b")
    factories.queue_item_make(recent, priority=10, requested_at=NOW - timedelta(seconds=29), next_attempt_at=NOW)

    response = _act(admin_client, "refresh_now", ["s.a", "s.b"])

    assert _messages(response) == [
        "Queued 1 planning for a refresh. 1 was skipped: already requested in the last 30 seconds."
    ]
    assert _queue("s.b").requested_at == NOW - timedelta(seconds=29)
    assert _queue("s.a").priority == 10


def test_refresh_now_refuses_a_selection_over_its_limit(admin_client, monkeypatch):
    monkeypatch.setattr("plannings.operator_actions.REFRESH_NOW_LIMIT", 2)
    factories.plannings_make(3, school="s")

    response = _act(admin_client, "refresh_now", ["s.p0"], select_across="1")

    assert _messages(response) == [
        "Refresh now takes at most 2 plannings at a time; nothing was queued. "
        "Narrow the selection: the backfill refreshes stale plannings on its own."
    ]
    assert not PlanningRefreshQueue.objects.exists()


# --- Re-enable --------------------------------------------------------------------------


def test_reenable_clears_the_disable_and_queues_a_refresh(admin_client):
    for full_id in ("s.off1", "s.off2", "s.expired", "s.never"):
        factories.planning_make(full_id)
    off1 = Planning.objects.get(pk="s.off1")
    factories.disabled_state_make(off1, until=NOW + timedelta(days=30), kind="http_404", consecutive_failures=4)
    factories.disabled_state_make(Planning.objects.get(pk="s.off2"), until=NOW + timedelta(seconds=1))
    factories.disabled_state_make(Planning.objects.get(pk="s.expired"), until=NOW, consecutive_failures=2)

    response = _act(admin_client, "reenable", ["s.off1", "s.off2", "s.expired", "s.never"])

    assert _messages(response) == ["Re-enabled 2 plannings. 2 were not disabled."]
    off1 = _state("s.off1")
    assert (off1.disabled_until, off1.consecutive_failures, off1.last_failure_kind, off1.updated_at) == (
        None,
        0,
        "http_404",
        NOW,
    )
    assert _state("s.off2").disabled_until is None
    # Not disabled (disabled_until is not after now): left exactly as it was, and not queued.
    assert (_state("s.expired").disabled_until, _state("s.expired").consecutive_failures) == (NOW, 2)
    queued = PlanningRefreshQueue.objects.order_by("planning_id")
    assert list(queued.values_list("planning_id", "priority", "next_attempt_at")) == [
        ("s.off1", 10, NOW),
        ("s.off2", 10, NOW),
    ]


def test_reenable_wakes_the_worker_once_for_the_whole_selection(
    admin_client, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("plannings.tasks.refresh_poll.apply_async", lambda **kwargs: sent.append(kwargs))
    for planning in factories.plannings_make(3, school="s"):
        factories.disabled_state_make(planning, until=NOW + timedelta(hours=6))
    with django_capture_on_commit_callbacks(execute=True):
        _act(admin_client, "reenable", ["s.p0", "s.p1", "s.p2"])
    assert sent == [{"kwargs": {"wake": True}, "retry": False}]
    assert PlanningRefreshQueue.objects.count() == 3


def test_an_action_over_every_filtered_row_spares_the_rows_filtered_out(admin_client):
    for full_id in ("a.one", "a.two", "b.one"):
        factories.disabled_state_make(factories.planning_make(full_id), until=NOW + timedelta(hours=6))

    response = _act(admin_client, "reenable", ["a.one"], query="?host=a", select_across="1")

    assert _messages(response) == ["Re-enabled 2 plannings."]
    disabled = PlanningRefreshState.objects.filter(disabled_until__gt=NOW).values_list("planning_id", flat=True)
    assert list(disabled) == ["b.one"]


def test_the_refresh_state_admin_re_enables_too(admin_client):
    factories.disabled_state_make(factories.planning_make("s.a"), until=NOW + timedelta(hours=6))
    response = _act(admin_client, "reenable", ["s.a"], model="planningrefreshstate")
    assert _messages(response) == ["Re-enabled 1 planning."]
    assert _state("s.a").disabled_until is None


# --- Release lock -----------------------------------------------------------------------


@pytest.fixture
def locks():
    live = factories.planning_make("s.live")
    expired = factories.planning_make("s.expired")
    free = factories.planning_make("s.free")
    factories.planning_make("s.unqueued")
    factories.queue_item_make(live, locked_at=NOW - timedelta(minutes=1), lock_owner="w1", attempts=1)
    factories.queue_item_make(expired, locked_at=NOW - TTL - timedelta(seconds=1), lock_owner="w0", attempts=2)
    factories.queue_item_make(free)
    return ["s.live", "s.expired", "s.free", "s.unqueued"]


def _hidden_inputs(response) -> dict[str, list[str]]:
    form = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.content.decode()):
        form.setdefault(name, []).append(value)
    return form


def test_release_lock_asks_for_confirmation_and_changes_nothing_until_confirmed(admin_client, locks):
    before = _snapshot()
    response = admin_client.post(PLANNINGS, {"action": "release_locks", ACTION_CHECKBOX_NAME: locks, "index": "0"})

    assert response.status_code == HTTPStatus.OK
    assert "admin/plannings/release_locks_confirmation.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "1 of these locks is live" in page
    assert "<tr><td>s.live</td><td>w1</td>" in page
    assert "<tr><td>s.expired</td><td>w0</td>" in page
    assert "<td>s.free</td>" not in page
    assert _snapshot() == before


def test_release_lock_once_confirmed_unlocks_live_and_expired_locks(admin_client, locks):
    confirmation = admin_client.post(PLANNINGS, {"action": "release_locks", ACTION_CHECKBOX_NAME: locks, "index": "0"})
    form = _hidden_inputs(confirmation)
    assert form["post"] == ["yes"]
    assert sorted(form[ACTION_CHECKBOX_NAME]) == sorted(locks)

    response = admin_client.post(PLANNINGS, form, follow=True)

    assert _messages(response) == ["Released the locks of 2 plannings. 2 were not locked."]
    rows = PlanningRefreshQueue.objects.order_by("planning_id").values_list("planning_id", "locked_at", "lock_owner")
    assert list(rows) == [("s.expired", None, None), ("s.free", None, None), ("s.live", None, None)]
    # The attempts the claims counted stay counted.
    assert (_queue("s.live").attempts, _queue("s.expired").attempts) == (1, 2)


def test_a_confirmed_release_over_every_filtered_row_keeps_to_the_filter(admin_client, locks):
    other = factories.planning_make("t.live")
    factories.queue_item_make(other, locked_at=NOW - timedelta(minutes=1), lock_owner="w2")
    url = f"{PLANNINGS}?host=s"
    data = {"action": "release_locks", ACTION_CHECKBOX_NAME: ["s.live"], "select_across": "1", "index": "0"}
    confirmation = admin_client.post(url, data)
    assert "<td>t.live</td>" not in confirmation.content.decode()

    response = admin_client.post(url, _hidden_inputs(confirmation), follow=True)

    assert _messages(response) == ["Released the locks of 2 plannings. 2 were not locked."]
    assert _queue("t.live").lock_owner == "w2"
    assert not PlanningRefreshQueue.objects.filter(planning__full_id__startswith="s.", locked_at__isnull=False).exists()


def test_release_lock_on_unlocked_plannings_says_so_without_asking(admin_client, locks):
    response = _act(admin_client, "release_locks", ["s.free", "s.unqueued"])
    assert _messages(response) == ["None of the selected plannings is locked; nothing was released."]


def test_the_queue_admin_releases_locks_too(admin_client, locks):
    response = _act(admin_client, "release_locks", ["s.live"], model="planningrefreshqueue", post="yes")
    assert _messages(response) == ["Released the locks of 1 planning."]
    assert _queue("s.live").locked_at is None
    assert _queue("s.expired").locked_at is not None


# --- Retry now --------------------------------------------------------------------------


def test_retry_now_brings_rows_waiting_in_backoff_forward_to_now(admin_client):
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    rows = {
        "s.waiting": {"next_attempt_at": NOW + timedelta(minutes=5), "attempts": 3, "last_error": "timeout"},
        "s.due": {"next_attempt_at": NOW - timedelta(minutes=1)},
        "s.dead": {"next_attempt_at": NOW + timedelta(minutes=5), "attempts": max_attempts},
    }
    for full_id, fields in rows.items():
        factories.queue_item_make(factories.planning_make(full_id), **fields)
    factories.planning_make("s.unqueued")

    response = _act(admin_client, "retry_now", [*rows, "s.unqueued"])

    assert _messages(response) == [
        "Moved the next attempt of 1 planning to now. "
        "3 were not waiting in the queue (not queued, already due, or out of attempts)."
    ]
    assert _queue("s.waiting").next_attempt_at == NOW
    assert _queue("s.waiting").attempts == 3
    assert _queue("s.due").next_attempt_at == NOW - timedelta(minutes=1)
    assert _queue("s.dead").next_attempt_at == NOW + timedelta(minutes=5)
    assert not PlanningRefreshQueue.objects.filter(planning_id="s.unqueued").exists()


def test_the_queue_admin_retries_now_too(admin_client):
    factories.queue_item_make(factories.planning_make("s.a"), next_attempt_at=NOW + timedelta(hours=1))
    response = _act(admin_client, "retry_now", ["s.a"], model="planningrefreshqueue")
    assert _messages(response) == ["Moved the next attempt of 1 planning to now."]
    assert _queue("s.a").next_attempt_at == NOW


# --- Permission ---------------------------------------------------------------------------


ACTIONS = {
    "planning": {"refresh_now", "reenable", "release_locks", "retry_now"},
    "planningbackup": {"refresh_now"},
    "planningrefreshqueue": {"refresh_now", "release_locks", "retry_now"},
    "planningrefreshstate": {"reenable", "refresh_now"},
}


@pytest.fixture
def everything():
    """One planning in every state an action would change."""
    planning = factories.planning_make("s.a")
    factories.backup_make(planning)
    factories.disabled_state_make(planning, until=NOW + timedelta(days=1), consecutive_failures=3)
    factories.queue_item_make(
        planning, locked_at=NOW - timedelta(minutes=1), lock_owner="w1", next_attempt_at=NOW + timedelta(hours=1)
    )
    return planning


@pytest.mark.parametrize("model", factories.PLANNINGS_MODELS)
def test_an_operator_gets_the_actions(operator_client, everything, model):
    page = operator_client.get(f"/admin/plannings/{model}/")
    offered = {name for name, _ in page.context["action_form"].fields["action"].choices if name}
    assert offered == ACTIONS[model]


@pytest.mark.parametrize("model", factories.PLANNINGS_MODELS)
def test_staff_without_the_permission_get_no_actions(looker, everything, model):
    page = looker.get(f"/admin/plannings/{model}/")
    assert page.status_code == HTTPStatus.OK
    assert page.context["action_form"] is None
    assert "Refresh now" not in page.content.decode()


@pytest.mark.parametrize(
    ("model", "action"), [(model, action) for model, actions in ACTIONS.items() for action in sorted(actions)]
)
def test_a_forged_action_from_staff_without_the_permission_changes_nothing(looker, everything, model, action):
    before = _snapshot()
    for extra in ({"index": "0"}, {"post": "yes"}):  # both the action form and a confirmation
        data = {"action": action, ACTION_CHECKBOX_NAME: ["s.a"], "select_across": "1", **extra}
        response = looker.post(f"/admin/plannings/{model}/", data)
        assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}
    assert _snapshot() == before


def test_an_operator_without_superuser_rights_can_run_an_action(operator_client, everything):
    response = _act(operator_client, "retry_now", ["s.a"])
    assert _messages(response) == ["Moved the next attempt of 1 planning to now."]
    assert _queue("s.a").next_attempt_at == NOW


# --- Filters ------------------------------------------------------------------------------


def _rows(client, query: str) -> list[str]:
    response = client.get(f"{PLANNINGS}?{query}")
    assert response.status_code == HTTPStatus.OK
    return sorted(str(obj.pk) for obj in response.context["cl"].result_list)


@pytest.fixture
def world():
    """Each planning differs from the others in one respect a filter looks at."""
    max_attempts = settings.PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS
    fresh_backup = NOW - timedelta(hours=1)
    stale_backup = NOW - timedelta(hours=settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS, seconds=1)
    specs = {
        # full id: (backup updated_at or None, disabled_until or None, queue row fields or None)
        "a.fresh": (fresh_backup, None, None),
        "a.stale": (stale_backup, None, None),
        "a.missing": (None, None, None),
        "a.edge": (NOW - timedelta(hours=settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS), None, None),
        "a.disabled": (stale_backup, NOW + timedelta(days=1), None),
        "a.was-disabled": (None, NOW, None),
        "b.ready": (None, None, {"next_attempt_at": NOW}),
        "b.waiting": (stale_backup, None, {"next_attempt_at": NOW + timedelta(seconds=1)}),
        "b.locked": (fresh_backup, None, {"locked_at": NOW - timedelta(minutes=1), "lock_owner": "w1"}),
        "b.last-try": (None, None, {"locked_at": NOW, "lock_owner": "w1", "attempts": max_attempts}),
        "b.dead-lock": (fresh_backup, None, {"locked_at": NOW - TTL - timedelta(seconds=1), "lock_owner": "w0"}),
        "b.spent": (None, None, {"next_attempt_at": NOW - timedelta(hours=1), "attempts": max_attempts}),
    }
    for full_id, (backup_at, disabled_until, queued) in specs.items():
        planning = factories.planning_make(full_id)
        if backup_at:
            factories.backup_make(planning, updated_at=backup_at)
        if disabled_until:
            factories.disabled_state_make(planning, until=disabled_until)
        if queued is not None:
            factories.queue_item_make(planning, **{"next_attempt_at": NOW - timedelta(minutes=2), **queued})
    return sorted(specs)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("host=a", ["a.disabled", "a.edge", "a.fresh", "a.missing", "a.stale", "a.was-disabled"]),
        ("disabled=yes", ["a.disabled"]),
        ("has_backup=no", ["a.missing", "a.was-disabled", "b.last-try", "b.ready", "b.spent"]),
        (
            "stale=yes",
            ["a.disabled", "a.missing", "a.stale", "a.was-disabled", "b.last-try", "b.ready", "b.spent", "b.waiting"],
        ),
        ("stale=due", ["a.missing", "a.stale", "a.was-disabled"]),
        ("stale=no", ["a.edge", "a.fresh", "b.dead-lock", "b.locked"]),
        ("queued=yes", ["b.dead-lock", "b.last-try", "b.locked", "b.ready", "b.spent", "b.waiting"]),
        ("queued=no", ["a.disabled", "a.edge", "a.fresh", "a.missing", "a.stale", "a.was-disabled"]),
        ("ready=yes", ["b.dead-lock", "b.ready"]),
        ("locked=yes", ["b.last-try", "b.locked"]),
        ("locked=yes&host=b&stale=no", ["b.locked"]),
    ],
)
def test_each_filter_returns_exactly_its_plannings(admin_client, world, query, expected):
    assert _rows(admin_client, query) == expected


@pytest.mark.parametrize("name", ["ready", "locked", "queued"])
def test_no_is_the_complement_of_yes(admin_client, world, name):
    yes, no = _rows(admin_client, f"{name}=yes"), _rows(admin_client, f"{name}=no")
    assert sorted(yes + no) == world
    assert not set(yes) & set(no)


def test_due_for_backfill_is_what_the_backfill_would_enqueue(admin_client, world):
    missing, stale = backfill_select(now=NOW)
    assert _rows(admin_client, "stale=due") == sorted(missing + stale)


def test_a_lock_is_live_up_to_its_ttl_and_ready_after(admin_client, frozen_now):
    factories.queue_item_make(factories.planning_make("s.a"), locked_at=NOW, lock_owner="w1", next_attempt_at=NOW)

    frozen_now.move_to(NOW + TTL - timedelta(seconds=1))
    assert (_rows(admin_client, "locked=yes"), _rows(admin_client, "ready=yes")) == (["s.a"], [])
    frozen_now.move_to(NOW + TTL)  # exactly the TTL: the claim would still skip it
    assert (_rows(admin_client, "locked=yes"), _rows(admin_client, "ready=yes")) == (["s.a"], [])
    frozen_now.move_to(NOW + TTL + timedelta(seconds=1))
    assert (_rows(admin_client, "locked=yes"), _rows(admin_client, "ready=yes")) == ([], ["s.a"])


def test_a_backup_turns_stale_just_after_the_backfill_cutoff(admin_client, frozen_now):
    factories.backup_make(factories.planning_make("s.a"), updated_at=NOW)
    cutoff = timedelta(hours=settings.PLANNINGS_BACKFILL_STALE_AFTER_HOURS)

    frozen_now.move_to(NOW + cutoff)
    assert (_rows(admin_client, "stale=yes"), _rows(admin_client, "stale=no")) == ([], ["s.a"])
    frozen_now.move_to(NOW + cutoff + timedelta(seconds=1))
    assert (_rows(admin_client, "stale=yes"), _rows(admin_client, "stale=no")) == (["s.a"], [])


# --- The change list ------------------------------------------------------------------------


def _complete(count: int, school: str = "s") -> None:
    """``count`` plannings, each with a backup (with events), a refresh state and a queue row."""
    for planning in factories.plannings_make(count, school=school):
        factories.backup_make(planning, events=[{"summary": "x" * 1000}])
        factories.state_make(planning, consecutive_failures=1, last_failure_kind="timeout")
        factories.queue_item_make(planning)


def _changelist_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PLANNINGS)
    assert response.status_code == HTTPStatus.OK
    return len(response.context["cl"].result_list), [query["sql"] for query in queries.captured_queries]


def test_the_change_list_runs_the_same_queries_for_5_or_60_rows(admin_client):
    _complete(5)
    shown, few = _changelist_queries(admin_client)
    assert shown == 5
    _complete(55, school="t")
    shown, many = _changelist_queries(admin_client)
    assert shown == 60
    assert len(many) == len(few)
    assert len(many) <= 6
    # The backups' events are never read for the list, whatever their size.
    assert not [sql for sql in many if "events" in sql]


def test_the_columns_show_state_queue_and_backup(admin_client):
    planning = factories.planning_make("s.a", title="Groupe A")
    factories.backup_make(planning, updated_at=datetime(2026, 3, 9, 8, 30, tzinfo=UTC))
    factories.disabled_state_make(
        planning,
        until=datetime(2026, 3, 17, 12, 0, tzinfo=UTC),
        kind="http_404",
        consecutive_failures=4,
        last_success_at=datetime(2026, 3, 1, 6, 0, tzinfo=UTC),
    )
    factories.queue_item_make(planning, next_attempt_at=datetime(2026, 3, 10, 12, 5, tzinfo=UTC))
    factories.planning_make("s.b", title="Bare")

    cl = admin_client.get(PLANNINGS).context["cl"]
    rows = [[strip_tags(str(cell)) for cell in row] for row in results(cl)]

    # The first cell is the action checkbox; then id (its title beneath), status, failures, last failure,
    # last success, backup.
    assert rows == [
        ["", "s.aGroupe A", "disabled", "4", "HTTP 404", "9 d ago", "27 h ago"],
        ["", "s.bBare", "idle", "-", "-", "—", "—"],
    ]  # fmt: skip


def test_the_change_list_sorts_by_a_related_column(admin_client):
    for full_id, hours in (("s.a", 1), ("s.b", 3), ("s.c", 2)):
        factories.backup_make(factories.planning_make(full_id), updated_at=NOW - timedelta(hours=hours))
    column = PlanningAdmin.list_display.index("backup_updated") + 1
    assert [str(p.pk) for p in admin_client.get(f"{PLANNINGS}?o={column}").context["cl"].result_list] == [
        "s.b",
        "s.c",
        "s.a",
    ]


def test_the_change_list_does_not_count_every_row_twice(admin_client):
    _complete(3)
    _, queries = _changelist_queries(admin_client)
    # One count of the rows; the failure kind filter's grouped count is another matter.
    assert len([sql for sql in queries if "COUNT(" in sql.upper() and "GROUP BY" not in sql.upper()]) == 1


# --- The pages of one planning and one backup -------------------------------------------------


def test_a_planning_page_shows_its_refresh_state_and_queue_row(admin_client):
    planning = factories.planning_make("s.a")
    factories.backup_make(planning)
    until = NOW + timedelta(days=30)
    factories.disabled_state_make(planning, until=until, kind="http_404", last_error="http_404", consecutive_failures=4)

    page = admin_client.get(f"{PLANNINGS}s.a/change/").content.decode()

    assert "<th>consecutive failures</th><td>4</td>" in page
    assert "<th>last failure kind</th><td>http_404</td>" in page
    assert "Not queued" in page
    assert 'href="/admin/plannings/planningbackup/s.a/change/"' in page


def test_a_planning_page_without_state_says_so(admin_client):
    factories.planning_make("s.a")
    page = admin_client.get(f"{PLANNINGS}s.a/change/").content.decode()
    assert "Never refreshed" in page
    assert "No backup" in page


def _event(summary: str, start: str, end: str, location: str = "") -> dict:
    fields = {"summary": summary, "startDate": start, "endDate": end, "location": location, "description": ""}
    return {"uid": summary, **fields}


def test_a_backup_page_shows_its_events_as_a_table_sorted_by_start(admin_client):
    events = [
        _event("Later", "2026-09-02T08:00:00.000Z", "2026-09-02T10:00:00.000Z", "B12"),
        _event("Earlier", "2026-09-01T08:00:00.000Z", "2026-09-01T09:30:00.000Z", "Amphi A"),
    ]
    factories.backup_make(factories.planning_make("s.a"), events=events)

    page = admin_client.get("/admin/plannings/planningbackup/s.a/change/").content.decode()

    assert "<th>Start</th><th>End</th><th>Summary</th><th>Location</th>" in page
    assert "<tr><td>2026-09-01 08:00</td><td>2026-09-01 09:30</td><td>Earlier</td><td>Amphi A</td></tr>" in page
    assert page.index("Earlier") < page.index("Later")
    assert "2 events, times in UTC." in page


def test_a_backup_page_escapes_what_the_feed_wrote(admin_client):
    hostile = _event("<script>alert(1)</script>", "2026-09-01T08:00:00.000Z", "<b>end</b>", '"><img src=x>')
    factories.backup_make(factories.planning_make("s.a"), events=[hostile])

    page = admin_client.get("/admin/plannings/planningbackup/s.a/change/").content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "&lt;b&gt;end&lt;/b&gt;" in page
    assert "&quot;&gt;&lt;img src=x&gt;" in page
    assert "<img src=x>" not in page


def test_the_backup_list_does_not_read_the_events(admin_client):
    factories.backup_make(factories.planning_make("s.a"), events=[_event("x", "a", "b")])
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/plannings/planningbackup/")
    assert [str(row.pk) for row in response.context["cl"].result_list] == ["s.a"]
    assert not [q["sql"] for q in queries.captured_queries if "events" in q["sql"]]
    assert PlanningBackup.objects.get(pk="s.a").events[0]["summary"] == "x"
