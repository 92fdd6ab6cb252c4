"""The deploy timeline: three hosts' audit lines, the hooks' events and the portal's actions, merged newest
first, filtered, and paged with a cursor (GET /api/v1/admin/ops/deploys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsportal.audit.models import AuditEvent
from tests.opsportal.helpers import openapi_schema, schema_validator
from tests.walletops.kamal_files import audit_record, kamal_hosts, lock_acquire
from walletops.deploys import services
from walletops.deploys.formats import hook_event_parse

pytestmark = pytest.mark.django_db
URL = "/api/v1/admin/ops/deploys"
T0 = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
SERVICE = "wallet-core"
HOSTS = {"web-1": "web", "web-2": "web", "worker-1": "workers"}


@pytest.fixture
def hosts(tmp_path, settings):
    folders = kamal_hosts(tmp_path, settings, HOSTS, service=SERVICE)
    return folders


def _hook(hook, moment, version, **more):
    variables = {
        "KAMAL_RECORDED_AT": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "KAMAL_PERFORMER": "ana",
        "KAMAL_SERVICE": SERVICE, "KAMAL_DESTINATION": "production", "KAMAL_VERSION": version, **more,
    }  # fmt: skip
    services.hook_event_store(hook_event_parse(hook, variables))


def _deploy(hosts, moment, version, who="ana"):
    """What ``kamal deploy -d production`` leaves: pre-deploy, pulls, boots one host after the other, post-deploy."""
    _hook("pre-deploy", moment, version, KAMAL_LOCK="true")
    for step, (name, folder) in enumerate(hosts.items()):
        audit_record(folder, SERVICE, moment + timedelta(seconds=10), who, f"Pulled image with version {version}",
                     destination="production")  # fmt: skip
        audit_record(folder, SERVICE, moment + timedelta(seconds=20 + step), who, f"Booted app version {version}",
                     destination="production", role=HOSTS[name])  # fmt: skip
    _hook("post-deploy", moment + timedelta(seconds=60), version, KAMAL_RUNTIME="60", KAMAL_LOCK="false",
          KAMAL_HOSTS="web-1,web-2,worker-1")  # fmt: skip


def _all_pages(reader, **params):
    entries, pages = [], 0
    response = reader.get(URL, params)
    while True:
        body = response.json()
        entries += body["results"]
        pages += 1
        if body["next"] is None:
            return entries, pages
        assert response["Link"] == f'<{body["next"]}>; rel="next"'
        response = reader.get(body["next"])


def test_the_timeline_merges_hosts_hooks_and_the_portal_newest_first(reader, hosts):
    _deploy(hosts, T0, "v1")
    AuditEvent.objects.create(actor="bo", via="portal", action="container.restart", targets=["wallet-core-web-v1"],
                              outcome="ok", created_at=T0 + timedelta(minutes=5))  # fmt: skip
    _deploy(hosts, T0 + timedelta(hours=1), "v2", who="bo")
    body = reader.get(URL, {"destination": "production", "limit": 500}).json()
    entries = body["results"]
    assert len(entries) == 2 * (2 + 6) + 1
    assert [entry["at"] for entry in entries] == sorted((entry["at"] for entry in entries), reverse=True)
    assert entries[0]["source"] == "hook" and entries[0]["kind"] == "post-deploy"
    assert {entry["source"] for entry in entries} == {"audit", "hook", "portal"}
    assert body["deploys"][0] == {
        "version": "v2", "performer": "bo", "started_at": "2026-12-07T19:00:20Z", "finished_at": "2026-12-07T19:00:22Z",
        "hosts": ["web-1", "web-2", "worker-1"], "roles": ["web", "workers"], "runtime_seconds": 60,
    }  # fmt: skip
    schema_validator(openapi_schema(), "DeploysPage").validate(body)


def test_pages_follow_each_other_without_loss_or_repeat(reader, hosts):
    for n in range(4):
        _deploy(hosts, T0 + timedelta(minutes=n), f"v{n}")  # entries at the same second on several hosts
    everything = reader.get(URL, {"destination": "production", "limit": 500}).json()["results"]
    paged, pages = _all_pages(reader, destination="production", limit=3)
    assert pages == -(-len(everything) // 3)
    assert [(e["source"], e["id"]) for e in paged] == [(e["source"], e["id"]) for e in everything]


def test_filters_by_host_role_performer_and_time(reader, hosts):
    _deploy(hosts, T0, "v1")
    _deploy(hosts, T0 + timedelta(hours=1), "v2", who="bo")
    worker = reader.get(URL, {"destination": "production", "host": "worker-1"}).json()["results"]
    assert {e["host"] for e in worker if e["source"] == "audit"} == {"worker-1"}
    roles = reader.get(URL, {"destination": "production", "role": "workers"}).json()["results"]
    assert {(e["source"], e["role"]) for e in roles if e["source"] == "audit"} == {("audit", "workers")}
    bo = reader.get(URL, {"destination": "production", "performer": "bo"}).json()["results"]
    assert {e["performer"] for e in bo} == {"bo"} and {e["version"] for e in bo if e["source"] == "audit"} == {"v2"}
    late = reader.get(URL, {"destination": "production", "since": "2026-12-07T18:30:00Z"}).json()["results"]
    assert {e["version"] for e in late} == {"v2"}


def test_the_first_page_shows_the_lock(reader, hosts):
    lock_acquire(hosts["web-1"], SERVICE, T0, holder="Ana Lima", version="v3", message="Automatic deploy lock",
                 destination="production")  # fmt: skip
    (lock,) = reader.get(URL, {"destination": "production"}).json()["locks"]
    assert (lock["holder"], lock["version"], lock["host"], lock["locked_at"]) == (
        "Ana Lima", "v3", "web-1", "2026-12-07T18:00:00Z"
    )  # fmt: skip
    assert lock["age_seconds"] > 0
    assert reader.get(URL, {"destination": "staging"}).json()["locks"] == []


def test_a_destination_less_app_has_its_own_timeline(reader, hosts):
    audit_record(hosts["web-1"], SERVICE, T0, "ci", "Booted app version v9", role="web")
    (entry,) = reader.get(URL).json()["results"]
    assert (entry["role"], entry["version"], entry["kind"]) == ("web", "v9", "booted")


@pytest.mark.parametrize(
    "params", [{"cursor": "bm90IGEgY3Vyc29y"}, {"destination": "qa"}, {"limit": "0"}, {"since": "yesterday"}]
)
def test_bad_parameters_are_400(reader, hosts, params):
    response = reader.get(URL, params)
    assert response.status_code == 400 and response.json()["code"] == "invalid_param"
