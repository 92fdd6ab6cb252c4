"""Alerts fired and resolved in the deploy timeline (issue #24: "the portal's own actions ... alerts fired and
resolved"): the alerts add their source to wallet ops' timeline when ready; the API and the Deploys page show it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsportal.alerts.models import Alert
from opsportal.alerts.services import alerts_evaluate
from tests.walletops.kamal_files import audit_record, kamal_hosts, lock_acquire, lock_release
from walletops.deploys import services
from walletops.deploys.formats import hook_event_parse

pytestmark = pytest.mark.django_db
URL = "/api/v1/admin/ops/deploys"
SERVICE = "wallet-core"
HOSTS = {"web-1": "web", "worker-1": "workers"}


@pytest.fixture
def hosts(tmp_path, settings):
    folders = kamal_hosts(tmp_path, settings, HOSTS, service=SERVICE)
    settings.OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH = ""
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"  # none
    return folders


@pytest.fixture
def reader(api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for('read')}")
    return api_client


def _deploy(hosts, moment, version):
    for name, folder in hosts.items():
        audit_record(folder, SERVICE, moment, "ana", f"Booted app version {version}", destination="production",
                     role=HOSTS[name])  # fmt: skip
    services.hook_event_store(hook_event_parse("post-deploy", {
        "KAMAL_RECORDED_AT": (moment + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "KAMAL_PERFORMER": "ana", "KAMAL_SERVICE": SERVICE, "KAMAL_DESTINATION": "production",
        "KAMAL_VERSION": version, "KAMAL_RUNTIME": "30",
    }))  # fmt: skip


@pytest.fixture
def lock_alert_between_deploys(hosts, only_rules):
    """v1 deployed, then a lock left held: the deploy lock rule fires, the lock goes, it resolves; then v2."""
    only_rules("deploy_lock", grace_evaluations=1, grace_seconds=0)
    t0 = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
    _deploy(hosts, t0, "v1")
    lock_acquire(hosts["web-1"], SERVICE, t0 + timedelta(minutes=10), holder="CI", version="v2",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    assert alerts_evaluate(now=t0 + timedelta(hours=5)).fired == 1
    lock_release(hosts["web-1"], SERVICE, destination="production")
    assert alerts_evaluate(now=t0 + timedelta(hours=5, minutes=5)).resolved == 1
    _deploy(hosts, t0 + timedelta(hours=6), "v2")
    return t0


def test_an_alert_fired_and_resolved_between_two_deploys_is_between_them(reader, lock_alert_between_deploys):
    t0 = lock_alert_between_deploys
    entries = reader.get(URL, {"destination": "production", "limit": 500}).json()["results"]
    shown = [(entry["source"], entry["kind"], entry.get("version") or entry.get("state")) for entry in entries]
    assert shown == [
        ("hook", "post-deploy", "v2"), ("audit", "booted", "v2"), ("audit", "booted", "v2"),
        ("alert", "alert.resolved", "resolved"), ("alert", "alert.fired", "fired"),
        ("hook", "post-deploy", "v1"), ("audit", "booted", "v1"), ("audit", "booted", "v1"),
    ]  # fmt: skip
    resolved, fired = entries[3], entries[4]
    alert = Alert.objects.get()
    assert fired["at"] == (t0 + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert resolved["at"] == (t0 + timedelta(hours=5, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fired["id"] == resolved["id"] == alert.id
    assert (fired["rule"], fired["target"]) == (alert.rule.name, "lock production")
    assert "held by CI on web-1" in fired["detail"]


def test_alerts_are_filtered_and_paged_with_the_rest(reader, lock_alert_between_deploys):
    t0 = lock_alert_between_deploys
    seen, url, params = [], URL, {"destination": "production", "limit": 1}
    while url:
        body = reader.get(url, params).json()
        seen += [(entry["source"], entry["kind"], entry["id"]) for entry in body["results"]]
        url, params = body["next"], None
    assert len(seen) == 8 == len(set(seen))  # every entry once, across eight pages
    assert [kind for source, kind, _ in seen if source == "alert"] == ["alert.resolved", "alert.fired"]
    window = {"destination": "production", "since": (t0 + timedelta(hours=5, minutes=1)).isoformat(),
              "until": (t0 + timedelta(hours=6)).isoformat()}  # fmt: skip
    only = reader.get(URL, window).json()["results"]
    assert [(entry["source"], entry["state"]) for entry in only] == [("alert", "resolved")]
    # Another destination's lock is not this timeline's; a timeline narrowed to a host leaves alerts out.
    assert not [e for e in reader.get(URL, {"destination": "staging"}).json()["results"] if e["source"] == "alert"]
    narrowed = reader.get(URL, {"destination": "production", "host": "web-1"}).json()["results"]
    assert narrowed and {entry["source"] for entry in narrowed} == {"audit", "hook"}  # a run on all hosts


def test_the_deploys_page_shows_the_alert_between_the_deploys(admin_client, lock_alert_between_deploys):
    html = admin_client.get("/admin/ops/deploys/", {"destination": "production"}).content.decode()
    timeline = html[html.index('id="deploys-timeline"') :]
    v2, resolved = timeline.index("Booted app version v2"), timeline.index("<strong>alert.resolved</strong>")
    fired, v1 = timeline.index("<strong>alert.fired</strong>"), timeline.index("Booted app version v1")
    assert v2 < resolved < fired < v1
    assert "lock production" in timeline[resolved:v1] and "held by CI on web-1" in timeline[fired:v1]


def test_a_source_registers_once_per_rank():
    from opsportal.alerts import deploy_timeline
    from walletops.deploys import timeline

    deploy_timeline.timeline_sources_register()  # again, as a second ready() would: the same readers, no error
    assert timeline.sources_known() == ["audit", "hook", "portal", "alert"]
    with pytest.raises(ValueError, match="already"):
        timeline.timeline_source_register("other", rank=deploy_timeline.FIRED_RANK, read=lambda *args: iter(()))
    with pytest.raises(ValueError, match="built-in"):
        timeline.timeline_source_register("other", rank=timeline.RANK["portal"], read=lambda *args: iter(()))
