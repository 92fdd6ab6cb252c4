"""Where operators see the alerts: the Alerts page, channels with "Send test", mutes from the portal,
``GET /api/v1/admin/ops/alerts``, ``/metrics`` and the dashboard badge."""

import json
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import jsonschema
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from opsportal.alerts.models import Alert, Channel, Mute, Notification, Rule
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
URL = "/api/v1/admin/ops/alerts"


@pytest.fixture
def history():
    """One resolved alert (older), one pending, one alerting and flapping with a sent and a failed notification."""
    rule = Rule.objects.get(kind="container")
    hook = Channel.objects.create(name="hook", kind="webhook", url="https://hooks.example.com/T0/SECRETSECRET")
    now = timezone.now()
    old = Alert.objects.create(
        rule=rule,
        target="old-web",
        state="resolved",
        started_at=now - timedelta(days=2),
        resolved_at=now - timedelta(days=1),
        message="old-web: stopped (exited)",
    )
    pending = Alert.objects.create(rule=rule, target="web-2", state="pending", started_at=now - timedelta(hours=3))
    firing = Alert.objects.create(
        rule=rule,
        target="web-1",
        state="alerting",
        flapping=True,
        fired_at=now,
        started_at=now - timedelta(hours=1),
        message="web-1: Docker health unhealthy",
    )
    sent = Notification.objects.create(
        alert=firing, channel=hook, kind="fired", status="sent", title="t", body="b", attempts=1, sent_at=now
    )
    failed = Notification.objects.create(
        alert=firing,
        channel=hook,
        kind="reminder",
        status="failed",
        title="t",
        body="b",
        attempts=6,
        last_error="HTTP 500: boom",
    )
    firing.grouped_notifications.add(sent, failed)  # as the evaluator writes them: the group lists its alerts
    return old, pending, firing


def test_the_alerts_page_lists_open_alerts_first_then_the_history(admin_client, history):
    old, pending, firing = history
    body = admin_client.get("/admin/alerts/alert/").content.decode()
    positions = [body.index(f"/admin/alerts/alert/{alert.pk}/change/") for alert in (firing, pending, old)]
    assert positions == sorted(positions)
    assert "alerting (flapping)" in body


@pytest.fixture
def mixed():
    """Open alerts started pending, alerting, pending (newest first), and a history whose newest is resolved
    and older is ok: the order to show is alerting, the newer pending, the older pending, resolved, ok."""
    rule = Rule.objects.get(kind="container")
    now = timezone.now()

    def alert(target: str, state: str, hours: int) -> Alert:
        closed = state in ("ok", "resolved")
        return Alert.objects.create(
            rule=rule,
            target=target,
            state=state,
            started_at=now - timedelta(hours=hours),
            resolved_at=now - timedelta(hours=hours - 1) if closed else None,
        )

    shown = [alert("web-2", "alerting", 2), alert("web-1", "pending", 1), alert("web-3", "pending", 3)]
    return [*shown, alert("web-5", "resolved", 4), alert("web-6", "ok", 5)]


def test_the_alerts_page_shows_alerting_before_pending_then_the_history_newest_first(admin_client, mixed):
    body = admin_client.get("/admin/alerts/alert/").content.decode()
    positions = {body.index(f"/admin/alerts/alert/{alert.pk}/change/"): alert.target for alert in mixed}
    assert [positions[at] for at in sorted(positions)] == ["web-2", "web-1", "web-3", "web-5", "web-6"]


def test_the_api_lists_alerting_before_pending_then_the_history_newest_first(api_client, token_for, mixed):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    rows = api_client.get(URL).json()["results"]
    assert [row["target"] for row in rows] == ["web-2", "web-1", "web-3", "web-5", "web-6"]


def test_an_alert_shows_each_notifications_delivery_status_and_error(admin_client, history):
    body = admin_client.get(f"/admin/alerts/alert/{history[2].pk}/change/").content.decode()
    inline = body[body.index('id="Notification_alerts-group"') :]
    assert "<p>Sent</p>" in inline and "<p>Failed</p>" in inline and "HTTP 500: boom" in inline


def test_a_channel_url_is_never_shown_in_clear(admin_client, history):
    hook = Channel.objects.get()
    for page in ("/admin/alerts/channel/", f"/admin/alerts/channel/{hook.pk}/change/"):
        body = admin_client.get(page).content.decode()
        assert "SECRETSECRET" not in body and "https://hooks.example.com/T0/S…T" in body


def test_a_viewer_sees_only_the_masked_channel_url_on_the_list_and_the_change_page(client):
    ntfy = Channel.objects.create(name="ntfy", url="ntfys://alice:pa55word@ntfy.example.com/topicSECRETvalue")
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(viewer)
    for page in ("/admin/alerts/channel/", f"/admin/alerts/channel/{ntfy.pk}/change/"):
        response = client.get(page)
        body = response.content.decode()
        assert response.status_code == HTTPStatus.OK, page
        assert "topicSECRET" not in body and "pa55word" not in body, page
        assert "ntfys://alice:****@ntfy.example.com/" in body, page


def test_a_channel_with_a_broken_url_neither_breaks_the_list_nor_the_send_test_button(admin_client):
    broken = Channel.objects.create(name="broken", kind="webhook", url="http://127.0.0.1:99999/hook")
    assert admin_client.get("/admin/alerts/channel/").status_code == HTTPStatus.OK
    assert admin_client.get(f"/admin/alerts/channel/{broken.pk}/change/").status_code == HTTPStatus.OK
    response = admin_client.post(f"/admin/alerts/channel/{broken.pk}/test/")
    assert response.status_code == HTTPStatus.FOUND
    assert Notification.objects.get().last_error.startswith("unusable channel URL: not a usable URL: Port out of range")


def test_a_webhook_url_with_an_impossible_port_is_refused_with_a_message(admin_client):
    response = admin_client.post(
        "/admin/alerts/channel/add/",
        {"name": "x", "kind": "webhook", "url": "https://h.example.com:99999/", "kinds": "fired"},
    )
    assert "Port out of range 0-65535" in response.content.decode() and not Channel.objects.exists()


def test_editing_a_channel_with_the_url_left_blank_keeps_it(admin_client, history):
    hook = Channel.objects.get()
    response = admin_client.post(
        f"/admin/alerts/channel/{hook.pk}/change/",
        {"name": "renamed", "kind": "webhook", "url": "", "kinds": "fired", "enabled": "on"},
    )
    assert response.status_code == HTTPStatus.FOUND
    hook.refresh_from_db()
    assert (hook.name, hook.url, hook.kinds) == ("renamed", "https://hooks.example.com/T0/SECRETSECRET", "fired")


def test_a_channel_with_an_unusable_url_is_refused_with_a_message(admin_client):
    response = admin_client.post(
        "/admin/alerts/channel/add/", {"name": "x", "kind": "apprise", "url": "nonsense://", "kinds": "fired"}
    )
    assert response.status_code == HTTPStatus.OK and "not an Apprise URL Apprise can load" in response.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("kinds", "message"),
    [("fired,paged", "unknown: paged; known: fired, reminder, resolved, deploy"), (" , ", "at least one of fired")],
)
def test_a_channel_with_unknown_or_no_notification_kinds_is_refused(admin_client, kinds, message):
    response = admin_client.post(
        "/admin/alerts/channel/add/", {"name": "x", "kind": "webhook", "url": "https://h.example.com/", "kinds": kinds}
    )
    assert message in response.content.decode() and not Channel.objects.exists()


def test_send_test_delivers_on_post_only_with_csrf_and_the_change_permission(client, smtp_server):
    mail = Channel.objects.create(name="mail", url=smtp_server.url())
    test_url = f"/admin/alerts/channel/{mail.pk}/test/"
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_channel"))
    client.force_login(viewer)
    assert client.post(test_url).status_code == HTTPStatus.FORBIDDEN
    admin = User.objects.create_superuser("boss", password="pw")
    client.force_login(admin)
    assert client.get(test_url).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    page = client.get(f"/admin/alerts/channel/{mail.pk}/change/").content.decode()
    assert f'action="{test_url}"' in page and "Send test" in page
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    assert strict.post(test_url).status_code == HTTPStatus.FORBIDDEN  # no CSRF token
    assert smtp_server.messages == []
    response = client.post(test_url, follow=True)
    assert "Test message sent to mail." in response.content.decode()
    assert len(smtp_server.messages) == 1 and Notification.objects.get().status == "sent"


def test_a_mute_made_in_the_portal_is_audited_with_the_user(admin_client, admin_user):
    rule = Rule.objects.get(kind="host")
    until = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = admin_client.post(
        "/admin/alerts/mute/add/",
        {"rule": rule.pk, "target": "", "until_0": until[:10], "until_1": until[11:], "reason": "kernel upgrade"},
    )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    mute = Mute.objects.get()
    event = AuditEvent.objects.get(action="alerts.mute")
    assert (mute.created_by, event.actor, event.via) == (admin_user.username, admin_user.username, "portal")
    assert "kernel upgrade" in event.detail


def test_a_threshold_out_of_range_is_refused_in_the_rule_form(admin_client):
    rule = Rule.objects.get(kind="host")
    data = {
        "name": rule.name,
        "kind": "host",
        "target": "",
        "thresholds": json.dumps({"cpu": 2}),
        "grace_evaluations": 3,
        "grace_seconds": 60,
        "reminder_seconds": 0,
        "flap_transitions": 4,
        "flap_window_seconds": 3600,
        "enabled": "on",
    }
    response = admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", data)
    assert "cpu: a fraction above 0, at most 1" in response.content.decode()
    data["thresholds"] = json.dumps({"cpu": 0.5})
    assert admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", data).status_code == HTTPStatus.FOUND
    rule.refresh_from_db()
    assert rule.thresholds == {"cpu": 0.5} and rule.grace_seconds == 60


@pytest.mark.parametrize("field", ["grace_seconds", "reminder_seconds", "flap_window_seconds"])
def test_a_rule_time_beyond_30_days_is_refused_with_a_message(admin_client, field):
    rule = Rule.objects.get(kind="host")
    data = {
        "name": rule.name,
        "kind": "host",
        "target": "",
        "thresholds": "{}",
        "grace_evaluations": 3,
        "grace_seconds": 60,
        "reminder_seconds": 0,
        "flap_transitions": 4,
        "flap_window_seconds": 3600,
        "enabled": "on",
    }
    response = admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", {**data, field: 30 * 86400 + 1})
    assert response.status_code == HTTPStatus.OK and "at most 30 days (2592000 seconds)" in response.content.decode()
    response = admin_client.post(f"/admin/alerts/rule/{rule.pk}/change/", {**data, field: 30 * 86400})
    assert response.status_code == HTTPStatus.FOUND
    rule.refresh_from_db()
    assert getattr(rule, field) == 30 * 86400


def test_the_api_lists_alerts_open_first_with_their_deliveries(api_client, token_for, history):
    old, pending, firing = history
    assert api_client.get(URL).status_code == HTTPStatus.UNAUTHORIZED
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    page = api_client.get(URL).json()
    assert page["next"] is None
    rows = page["results"]
    assert [row["id"] for row in rows] == [firing.pk, pending.pk, old.pk]
    assert rows[0]["flapping"] is True and rows[0]["rule"] == "Containers"
    assert sorted((n["kind"], n["status"], n["last_error"]) for n in rows[0]["notifications"]) == [
        ("fired", "sent", ""),
        ("reminder", "failed", "HTTP 500: boom"),
    ]
    assert [row["id"] for row in api_client.get(URL, {"open": "true"}).json()["results"]] == [firing.pk, pending.pk]
    bad = api_client.get(URL, {"limit": "0"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST and bad.json()["code"] == "invalid_param"


def test_the_api_pages_alerts_with_a_cursor_in_the_list_order(api_client, token_for, history):
    """``?limit=`` and the opaque ``cursor`` of ``next`` (also the ``Link`` header) walk the list's order
    once; a row opened meanwhile shifts no page (keyset, not OFFSET); a forged cursor is 400."""
    old, pending, firing = history
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    first = api_client.get(URL, {"limit": "2"})
    assert [row["id"] for row in first.json()["results"]] == [firing.pk, pending.pk]
    next_url = first.json()["next"]
    assert next_url.startswith("http://testserver/api/v1/admin/ops/alerts?") and "limit=2" in next_url
    assert first["Link"] == f'<{next_url}>; rel="next"'
    Alert.objects.create(rule=old.rule, target="new-1", state="alerting")  # opened before the next page is read
    second = api_client.get(next_url)
    assert [row["id"] for row in second.json()["results"]] == [old.pk] and second.json()["next"] is None
    assert "Link" not in second
    for forged in ("nope", next_url.split("cursor=")[1][:-3] + "abc"):
        bad = api_client.get(URL, {"cursor": forged})
        assert bad.status_code == HTTPStatus.BAD_REQUEST and bad.json()["code"] == "invalid_param", forged
        assert bad.json()["detail"].startswith("cursor:")
    assert api_client.get(URL, {"limit": "1001"}).status_code == HTTPStatus.BAD_REQUEST


def test_the_api_answer_matches_its_openapi_schema(api_client, token_for, history):
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "alerts_list" and operation["security"] == [{"bearerToken": []}]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    validator = jsonschema.Draft202012Validator(
        {**schema["components"]["schemas"]["AlertsPage"], "components": schema["components"]}
    )
    validator.validate(api_client.get(URL, {"limit": "1"}).json())  # a page with a next
    validator.validate(api_client.get(URL).json())


def test_metrics_export_each_open_alert_and_the_counts_by_state(client, history):
    samples = {}
    for family in text_string_to_metric_families(client.get("/metrics").content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("opsportal_alerts_open", (("state", "alerting"),))] == 1
    assert samples[("opsportal_alerts_open", (("state", "pending"),))] == 1
    labels = (
        ("flapping", "true"),
        ("kind", "container"),
        ("rule", "Containers"),
        ("state", "alerting"),
        ("target", "web-1"),
    )
    assert samples[("opsportal_alert", labels)] == 1
    assert not any(name == "opsportal_alert" and ("target", "old-web") in labels for name, labels in samples)


def test_the_dashboard_shows_the_badge_linking_to_the_open_alerts(admin_client, history):
    body = admin_client.get("/admin/ops/").content.decode()
    assert 'id="alerts-badge"' in body and "<strong>1 alerting</strong>, 1 pending (1 flapping)" in body
    assert "/admin/alerts/alert/?is_open__exact=1" in body
    Alert.objects.update(state="resolved", is_open=False)
    assert "none open" in admin_client.get("/admin/ops/").content.decode()


def test_an_alert_links_to_a_mute_form_filled_in_for_its_rule_and_target(admin_client, history):
    firing = history[2]
    body = admin_client.get(f"/admin/alerts/alert/{firing.pk}/change/").content.decode()
    link = f"/admin/alerts/mute/add/?rule={firing.rule_id}&amp;target=web-1"
    assert link in body
    form = admin_client.get(link.replace("&amp;", "&")).content.decode()
    assert 'name="target" value="web-1"' in form and f'<option value="{firing.rule_id}" selected>' in form


def test_the_evaluation_runs_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-evaluate"]
    assert entry["task"] == "alerts.evaluate" and entry["schedule"] == settings.OPSPORTAL_ALERTS_EVALUATE_SECONDS
    from opsportal.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscovery finds opsportal.alerts.tasks
    assert "alerts.evaluate" in app.tasks


def test_the_alerts_pages_carry_no_inline_code_the_content_security_policy_would_block(admin_client, history):
    import re

    channel, alert = Channel.objects.get(), history[2]
    pages = [
        "/admin/alerts/alert/",
        f"/admin/alerts/alert/{alert.pk}/change/",
        "/admin/alerts/channel/",
        f"/admin/alerts/channel/{channel.pk}/change/",
        "/admin/alerts/mute/add/",
        "/admin/alerts/rule/",
        "/admin/alerts/notification/",
        "/admin/ops/",
    ]
    for path in pages:
        response = admin_client.get(path)
        html = response.content.decode()
        assert response.status_code == HTTPStatus.OK, path
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
            assert re.search(r'\b(src|nonce)="[^"]+"', tag), f"{path}: {tag}"
        assert not re.search(r"<[^>]+\sstyle=", html), f"{path}: a style attribute"
        assert not re.search(r"<[^>]+\son[a-z]+=", html), f"{path}: an event-handler attribute"


def test_the_alerts_list_tells_flapping_held_and_the_episodes_times_in_few_columns(admin_client, mixed):
    Alert.objects.filter(target="web-1").update(held=True, flapping=True)
    body = admin_client.get("/admin/alerts/alert/").content.decode()
    assert "alerting (flapping, held)" not in body and "pending (flapping, held)" in body
    assert "Started / fired / resolved" in body and "column-held" not in body and "column-fired_at" not in body
    assert "started <time" in body and "resolved <time" in body and "evaluated" in body


def test_the_rules_list_shows_each_threshold_with_its_default_on_a_line(admin_client):
    body = admin_client.get("/admin/alerts/rule/").content.decode()
    assert "depth 1000<br>not_falling_seconds 600<br>oldest_seconds 1800<br>failures_last_hour 10" in body
    assert "3 passes, 120 s" in body and "column-grace_evaluations" not in body


def test_walking_the_alerts_a_row_at_a_time_gives_the_list_order_once(api_client, token_for, mixed):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    seen, url = [], f"{URL}?limit=1"
    while url:
        page = api_client.get(url).json()
        seen += [row["target"] for row in page["results"]]
        url = page["next"]
    assert seen == ["web-2", "web-1", "web-3", "web-5", "web-6"]
