"""Maintenance windows: once or weekly, for a rule and/or a target pattern. Alerts that start inside an open
window are held like during a deploy and fire only if they outlive it; windows are made in the admin
(audited, refusals too) and shown on the dashboard and by ``GET /api/v1/admin/ops/maintenance``."""

from datetime import UTC, datetime, time, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.exceptions import ValidationError

from opsportal.alerts.models import Alert, MaintenanceWindow, Notification
from opsportal.alerts.services import alerts_evaluate
from opsportal.alerts.windows import Span, weekly_occurrence
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
URL = "/api/v1/admin/ops/maintenance"


def _once(name="db upgrade", *, starts_at=START, minutes=10, **fields) -> MaintenanceWindow:
    return MaintenanceWindow.objects.create(
        name=name,
        reason="planned",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        created_by="ana",
        **fields,
    )


def _weekly(name="sunday patching", *, weekdays="6", start=time(23, 0), minutes=180, **fields) -> MaintenanceWindow:
    return MaintenanceWindow.objects.create(
        name=name,
        reason="patches",
        recurrence="weekly",
        weekdays=weekdays,
        start_time=start,
        duration_minutes=minutes,
        created_by="ana",
        **fields,
    )


def test_an_alert_that_starts_inside_a_window_is_held_and_fires_only_if_it_outlives_it(plannings_health):
    _once(rule=plannings_health.rule, minutes=10)
    with time_machine.travel(START, tick=False) as clock:
        plannings_health.bad()
        for _ in range(9):  # well past the grace (two passes, 60 s), inside the window
            alerts_evaluate()
            clock.shift(60)
        alert = Alert.objects.get()
        assert (alert.state, alert.held) == ("pending", True)
        assert not Notification.objects.exists()
        clock.shift(60)  # START + 10 min: the window has closed, the condition is still there
        assert alerts_evaluate().fired == 1
    alert.refresh_from_db()
    assert (alert.state, alert.held) == ("alerting", False)
    assert list(Notification.objects.values_list("kind", flat=True)) == ["fired"]


def test_an_alert_that_recovers_inside_the_window_never_notifies(plannings_health):
    _once(target="plann*", minutes=30)
    with time_machine.travel(START, tick=False) as clock:
        plannings_health.bad()
        for _ in range(4):
            alerts_evaluate()
            clock.shift(60)
        assert Alert.objects.get().held
        for _ in range(3):
            plannings_health.good()
            alerts_evaluate()
            clock.shift(60)
        assert Alert.objects.get().state == "ok"
        clock.shift(timedelta(hours=1))
        plannings_health.good()
        alerts_evaluate()
    assert not Notification.objects.exists()


def test_a_window_of_another_rule_or_target_or_time_holds_nothing(plannings_health):
    _once("other rule", rule=plannings_health.rule.__class__.objects.get(kind="host"))
    _once("other target", target="web-*")
    _once("later", starts_at=START + timedelta(hours=1))
    _once("earlier", starts_at=START - timedelta(hours=1))
    with time_machine.travel(START, tick=False) as clock:
        plannings_health.bad()
        alerts_evaluate()
        clock.shift(60)
        assert alerts_evaluate().fired == 1


def test_a_weekly_window_is_open_on_its_days_from_its_time_for_its_duration_even_past_midnight():
    sunday_23_to_2 = {"days": (6,), "start": time(23, 0), "duration": timedelta(hours=3)}
    monday = START.replace(hour=0)
    assert monday.weekday() == 0
    assert weekly_occurrence(monday + timedelta(hours=1, minutes=59), **sunday_23_to_2) == Span(
        monday - timedelta(hours=1), monday + timedelta(hours=2)
    )  # Sunday 23:00 to Monday 02:00, open on Monday at 01:59
    # Monday 02:00, it has closed: the next is the coming Sunday's.
    assert weekly_occurrence(monday + timedelta(hours=2), **sunday_23_to_2) == Span(
        monday + timedelta(days=6, hours=23), monday + timedelta(days=7, hours=2)
    )
    weekdays_2_to_4 = {"days": (0, 2, 4), "start": time(2, 0), "duration": timedelta(hours=2)}
    wednesday = monday + timedelta(days=2)
    assert weekly_occurrence(wednesday + timedelta(hours=3), **weekdays_2_to_4).starts_at == wednesday + timedelta(
        hours=2
    )
    # Tuesday 03:00: closed (no Tuesday), next on Wednesday.
    assert weekly_occurrence(monday + timedelta(days=1, hours=3), **weekdays_2_to_4).starts_at == wednesday + timedelta(
        hours=2
    )


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (datetime(2026, 3, 1, 22, 59, 59, tzinfo=UTC), False),  # Sunday, a second before
        (datetime(2026, 3, 1, 23, 0, tzinfo=UTC), True),  # Sunday 23:00: opens
        (datetime(2026, 3, 2, 1, 59, 59, tzinfo=UTC), True),  # Monday, past midnight
        (datetime(2026, 3, 2, 2, 0, tzinfo=UTC), False),  # Monday 02:00: closed
        (datetime(2026, 3, 4, 23, 30, tzinfo=UTC), False),  # a Wednesday at the same time
        (datetime(2026, 3, 8, 23, 30, tzinfo=UTC), True),  # the next Sunday
    ],
)
def test_a_weekly_window_holds_alerts_at_the_right_times(plannings_health, moment, is_open):
    _weekly()
    plannings_health.rule.grace_evaluations, plannings_health.rule.grace_seconds = 1, 0  # fires on its first pass
    plannings_health.rule.save()
    with time_machine.travel(moment, tick=False):
        plannings_health.bad()
        result = alerts_evaluate()
    assert (result.held, result.fired) == ((1, 0) if is_open else (0, 1))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recurrence": "once", "starts_at": START}, "needs a start and an end"),
        ({"recurrence": "once", "starts_at": START, "ends_at": START}, "after the start"),
        ({"recurrence": "weekly", "weekdays": "7", "start_time": time(1), "duration_minutes": 5}, "Monday 0 to"),
        ({"recurrence": "weekly", "weekdays": "", "start_time": time(1), "duration_minutes": 5}, "at least one day"),
        ({"recurrence": "weekly", "weekdays": "1", "duration_minutes": 5}, "required for a weekly window"),
        ({"recurrence": "weekly", "weekdays": "1", "start_time": time(1)}, "required for a weekly window"),
    ],
)
def test_a_window_without_a_whole_schedule_is_refused_with_a_message(fields, message):
    with pytest.raises(ValidationError, match=message):
        MaintenanceWindow(name="x", reason="y", **fields).clean()


def _form(**fields) -> dict:
    return {
        "name": "db upgrade",
        "reason": "postgres 17",
        "rule": "",
        "target": "",
        "recurrence": "once",
        "starts_at_0": "2026-03-02",
        "starts_at_1": "10:00:00",
        "ends_at_0": "2026-03-02",
        "ends_at_1": "11:00:00",
        "weekdays": "",
        "start_time": "",
        "duration_minutes": "",
        **fields,
    }


def test_an_operator_makes_changes_and_removes_a_window_each_audited_with_before_and_after(client, member):
    operator = member(client, "Operator")
    assert client.post("/admin/alerts/maintenancewindow/add/", _form()).status_code == HTTPStatus.FOUND
    window = MaintenanceWindow.objects.get()
    assert window.created_by == operator.username
    response = client.post(f"/admin/alerts/maintenancewindow/{window.pk}/change/", _form(ends_at_1="12:00:00"))
    assert response.status_code == HTTPStatus.FOUND
    response = client.post(f"/admin/alerts/maintenancewindow/{window.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND and not MaintenanceWindow.objects.exists()
    events = list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "actor", "detail"))
    assert [event[:3] for event in events] == [
        ("alerts.maintenance_create", "ok", operator.username),
        ("alerts.maintenance_change", "ok", operator.username),
        ("alerts.maintenance_delete", "ok", operator.username),
    ]
    assert "once 2026-03-02 10:00 to 2026-03-02 11:00 UTC" in events[0][3]
    assert "before: db upgrade: once 2026-03-02 10:00 to 2026-03-02 11:00 UTC" in events[1][3]
    assert "after: db upgrade: once 2026-03-02 10:00 to 2026-03-02 12:00 UTC" in events[1][3]
    assert "before: db upgrade: once 2026-03-02 10:00 to 2026-03-02 12:00 UTC" in events[2][3]


def test_a_viewer_sees_windows_but_is_refused_making_or_removing_one_and_each_refusal_is_audited(client, member):
    window = _once()
    viewer = member(client, "Viewer")
    assert client.get("/admin/alerts/maintenancewindow/").status_code == HTTPStatus.OK
    assert client.post("/admin/alerts/maintenancewindow/add/", _form()).status_code == HTTPStatus.FORBIDDEN
    response = client.post(f"/admin/alerts/maintenancewindow/{window.pk}/change/", _form(name="renamed"))
    assert response.status_code == HTTPStatus.FORBIDDEN
    response = client.post(f"/admin/alerts/maintenancewindow/{window.pk}/delete/", {"post": "yes"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    window.refresh_from_db()
    assert window.name == "db upgrade"
    events = AuditEvent.objects.order_by("id").values_list("action", "outcome", "actor")
    assert list(events) == [
        ("alerts.maintenance_create", "refused", viewer.username),
        ("alerts.maintenance_change", "refused", viewer.username),
        ("alerts.maintenance_delete", "refused", viewer.username),
    ]


def test_the_api_lists_open_and_coming_windows_open_first(api_client, token_for):
    _once("over", starts_at=START - timedelta(hours=2))
    _once("open now", starts_at=START - timedelta(minutes=5), target="web-*")
    _once("next month", starts_at=START + timedelta(days=30))
    _weekly("sunday patching")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    with time_machine.travel(START, tick=False):
        rows = api_client.get(URL).json()
        within = api_client.get(URL, {"within_hours": 24 * 7}).json()
    assert [(row["name"], row["is_open"]) for row in rows] == [
        ("open now", True),
        ("sunday patching", False),
        ("next month", False),
    ]
    assert rows[0] | {"id": 0} == {
        "id": 0,
        "name": "open now",
        "reason": "planned",
        "rule": None,
        "target": "web-*",
        "recurrence": "once",
        "weekdays": [],
        "start_time": None,
        "duration_minutes": None,
        "is_open": True,
        "starts_at": "2026-03-02T08:55:00Z",
        "ends_at": "2026-03-02T09:05:00Z",
        "created_by": "ana",
    }
    assert (rows[1]["weekdays"], rows[1]["start_time"], rows[1]["starts_at"]) == (
        [6],
        "23:00:00",
        "2026-03-08T23:00:00Z",
    )
    assert [row["name"] for row in within] == ["open now", "sunday patching"]


def test_the_maintenance_api_needs_a_token_and_checks_its_parameter(api_client, token_for):
    assert api_client.get(URL).status_code == HTTPStatus.UNAUTHORIZED
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    response = api_client.get(URL, {"within_hours": "0"})
    assert response.status_code == HTTPStatus.BAD_REQUEST and response.json()["code"] == "invalid_param"


def test_the_dashboard_shows_open_and_coming_windows(admin_client):
    with time_machine.travel(START, tick=False):
        assert "none open or planned this week" in admin_client.get("/admin/ops/").content.decode()
        _once("db upgrade", starts_at=START - timedelta(minutes=5))
        _weekly("sunday patching")
        _once("next month", starts_at=START + timedelta(days=30))
        line = admin_client.get("/admin/ops/").content.decode()
    line = line[line.index('id="maintenance-line"') :]
    line = line[: line.index("</p>")]
    assert "<strong>db upgrade</strong> (every rule)" in line and "open until Mon 2026-03-02 09:05 UTC" in line
    assert (
        "<strong>sunday patching</strong>" in line and "from Sun 2026-03-08 23:00 to Mon 2026-03-09 02:00 UTC" in line
    )
    assert "next month" not in line


def test_the_maintenance_and_acknowledged_alert_answers_match_the_openapi_schema(
    api_client, token_for, admin_client, plannings_health
):
    import json
    from io import StringIO

    import jsonschema
    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "maintenance_list" and operation["security"] == [{"bearerToken": []}]

    def validator(component: str):
        return jsonschema.Draft202012Validator(
            {**schema["components"]["schemas"][component], "components": schema["components"]}
        )

    _once("open now", starts_at=START - timedelta(minutes=5), rule=plannings_health.rule)
    _weekly("sunday patching")
    with time_machine.travel(START, tick=False) as clock:
        plannings_health.bad()
        alerts_evaluate()
        clock.shift(60)
        alerts_evaluate()
        alert = Alert.objects.get()
        admin_client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"comment": "held anyway"})
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
        windows = api_client.get(URL).json()
        alerts = api_client.get("/api/v1/admin/ops/alerts").json()["results"]
    assert len(windows) == 2 and alerts[0]["acknowledged"]["comment"] == "held anyway"
    for row in windows:
        validator("MaintenanceWindow").validate(row)
    validator("Alert").validate(alerts[0])
    alerts[0]["acknowledged"] = None
    validator("Alert").validate(alerts[0])
