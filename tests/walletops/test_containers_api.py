"""``/api/v1/admin/ops/containers`` against two real private Docker engines running a Kamal-shaped fleet."""

from http import HTTPStatus

import pytest

from tests.walletops.conftest import STAGING_SHA
from tests.walletops.helpers import health_awaited, log_line_awaited

URL = "/api/v1/admin/ops/containers"
pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    return [c["name"] for c in response.json()]


def test_it_lists_only_the_services_app_containers_of_every_env(reader, fleet_settings):
    response = reader.get(URL)
    assert response.status_code == HTTPStatus.OK, response.content
    assert sorted(_names(response)) == [
        "wallet-core-production-web-def5678", "wallet-core-production-worker-def5678",
        "wallet-core-staging-job-abc1234", "wallet-core-staging-runner-abc1234",
        "wallet-core-staging-web-abc1234", "wallet-core-staging-worker-abc1234",
    ]  # fmt: skip
    assert "X-Docker-Unavailable" not in response.headers


def test_env_and_accessories_filter_the_list(reader, fleet_settings):
    staging = _names(reader.get(URL, {"env": "staging"}))
    assert all(name.startswith("wallet-core-staging-") for name in staging)
    assert "wallet-core-staging-redis" not in staging
    with_accessories = reader.get(URL, {"env": "staging", "include_accessories": "yes"}).json()
    redis = next(c for c in with_accessories if c["name"] == "wallet-core-staging-redis")
    assert (redis["role"], redis["accessory"]) == ("redis", True)
    assert _names(reader.get(URL, {"env": "production"})) == [
        "wallet-core-production-web-def5678", "wallet-core-production-worker-def5678",
    ]  # fmt: skip


def _wait_health(reader, fleet, name, status):
    """The container's view once the staging engine says its health check turned ``status``."""
    health_awaited(fleet.staging_url, name, status)
    container = next(c for c in reader.get(URL, {"env": "staging"}).json() if c["name"] == name)
    assert container["health"] == status, container
    return container


def test_every_field_is_derived_as_the_spec_says(reader, fleet_settings):
    web = _wait_health(reader, fleet_settings, "wallet-core-staging-web-abc1234", "healthy")
    assert len(web["id"]) == 12 and all(ch in "0123456789abcdef" for ch in web["id"])
    assert (web["role"], web["status"], web["version"], web["commit_sha"]) == ("web", "running", "abc1234", STAGING_SHA)
    assert (web["restarts"], web["host"], web["image"], web["ports"]) == (
        0, "10.0.0.1-0a1b2c3d4e5f", "opsportal/busybox:test", [],
    )  # fmt: skip
    assert web["created_at"].endswith("Z") and web["started_at"].endswith("Z")
    assert "cpu_pct" not in web
    worker = _wait_health(reader, fleet_settings, "wallet-core-staging-worker-abc1234", "unhealthy")
    assert (worker["version"], worker["commit_sha"]) == ("abc1234", "feedbeef")  # env fallbacks
    runner = next(c for c in reader.get(URL).json() if c["name"] == "wallet-core-staging-runner-abc1234")
    assert (runner["health"], runner["commit_sha"]) == ("none", STAGING_SHA)
    job = next(c for c in reader.get(URL).json() if c["name"] == "wallet-core-staging-job-abc1234")
    assert job["status"] == "exited"


def test_stats_are_gathered_for_running_containers_only(reader, fleet_settings):
    containers = reader.get(URL, {"include_stats": "true"}).json()
    for container in containers:
        if container["status"] == "running":
            assert 0 <= container["cpu_pct"] <= 100 * 64, container
            assert container["mem_pct"] is None or 0 <= container["mem_pct"] <= 100, container
        else:
            assert (container["cpu_pct"], container["mem_pct"]) == (None, None)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"env": "qa"}, "env"),
        ({"include_stats": "maybe"}, "include_stats"),
        ({"include_accessories": "2"}, "include_accessories"),
        # Exactly the documented spellings (found by the long fuzz run): not "False", not " true".
        ({"include_accessories": "False"}, "include_accessories"),
        ({"include_stats": " true"}, "include_stats"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(reader, fleet_settings, query, param):
    response = reader.get(URL, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "invalid_param" and body["detail"].startswith(f"{param}:")


def test_a_container_page_adds_labels_policy_mounts_and_health_log(reader, fleet_settings):
    _wait_health(reader, fleet_settings, "wallet-core-staging-web-abc1234", "healthy")
    response = reader.get(f"{URL}/wallet-core-staging-web-abc1234")
    assert response.status_code == HTTPStatus.OK
    detail = response.json()
    assert detail["labels"]["role"] == "web"
    assert detail["restart_policy"] == "no"
    assert detail["mounts"] == []
    assert detail["health_log"] and detail["health_log"][-1]["exit_code"] == 0


@pytest.mark.parametrize("name", ["unrelated-database", "other-app-staging-web-1", "nope", "wallet-core-staging-redis"])
def test_anything_not_managed_is_404(reader, fleet_settings, name):
    response = reader.get(f"{URL}/{name}")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "container_not_found"


@pytest.mark.parametrize("name", ["..", ".hidden", "-rf", "wallet core", "x" * 300, "a;b", "%2e%2e"])
@pytest.mark.parametrize("suffix", ["", "/logs", "/health-check"])
def test_names_with_path_tricks_are_400(reader, fleet_settings, name, suffix):
    response = reader.get(f"{URL}/{name}{suffix}")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json() == {
        "code": "invalid_param", "detail": "name: a container name is letters, digits, '_', '.', '-' (no paths)",
    }  # fmt: skip


def test_a_slash_in_a_name_never_reaches_a_container(reader, fleet_settings):
    response = reader.get(f"{URL}/..%2Fwallet-core-staging-web-abc1234")
    assert response.status_code == HTTPStatus.NOT_FOUND  # no route: the name cannot carry a path


def _runner_ticking(reader, fleet, name: str) -> None:
    """Wait until the runner is past its 20,000-character line (a shell loop: seconds on a loaded
    machine, where a fixed sleep was too short) and has written its first tick: its log says so."""
    log_line_awaited(fleet.staging_url, name, b"tick")
    lines = reader.get(f"{URL}/{name}/logs", {"tail": "1"}).json()["lines"]
    assert lines and lines[-1]["text"].startswith("tick"), lines


def test_logs_strip_ansi_cut_long_lines_and_honour_tail(reader, fleet_settings):
    name = "wallet-core-staging-runner-abc1234"
    _runner_ticking(reader, fleet_settings, name)
    body = reader.get(f"{URL}/{name}/logs", {"tail": "5000"}).json()
    texts = [line["text"] for line in body["lines"]]
    assert texts[0] == "red started"  # the ANSI colour codes are gone
    assert texts[1] == "x" * 16 * 1024  # a 20,000-character line, cut at 16 KiB
    assert body["truncated"] is True
    assert all(line["ts"].endswith("Z") for line in body["lines"])
    two = reader.get(f"{URL}/{name}/logs", {"tail": "2"}).json()
    assert len(two["lines"]) == 2 and two["lines"][-1]["text"].startswith("tick")
    assert two["truncated"] is False


def test_logs_filter_by_substring_regex_and_time(reader, fleet_settings):
    name = "wallet-core-staging-runner-abc1234"
    _runner_ticking(reader, fleet_settings, name)
    ticks = reader.get(f"{URL}/{name}/logs", {"grep": "tick", "tail": "5000"}).json()["lines"]
    assert ticks and all("tick" in line["text"] for line in ticks)
    regex = reader.get(f"{URL}/{name}/logs", {"grep": "/^tick [02468]$/"}).json()["lines"]
    assert regex and all(line["text"][-1] in "02468" for line in regex)
    assert reader.get(f"{URL}/{name}/logs", {"since": "1d"}).json()["lines"]
    assert reader.get(f"{URL}/{name}/logs", {"until": "2020-01-01T00:00:00Z"}).json()["lines"] == []
    plain = reader.get(f"{URL}/{name}/logs", {"tail": "1"}, HTTP_ACCEPT="text/plain")
    assert plain["Content-Type"].startswith("text/plain") and "tick" in plain.content.decode()
    # No lines is an empty body that is still text/plain (DRF drops the header of an empty body).
    empty = reader.get(f"{URL}/{name}/logs", {"format": "txt", "until": "2020-01-01T00:00:00Z"})
    assert (empty.status_code, empty.content, empty["Content-Type"]) == (200, b"", "text/plain; charset=utf-8")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"tail": "ten"}, "tail"), ({"tail": "-1"}, "tail"), ({"tail": "5001"}, "tail"),
        ({"since": "yesterday"}, "since"), ({"until": "15x"}, "until"), ({"grep": "/([/"}, "grep"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"format": ""}, "format"),  # DRF alone ignores an empty format (found by the long fuzz run)
    ],
)  # fmt: skip
def test_bad_log_parameters_are_400_naming_the_parameter(reader, fleet_settings, query, param):
    response = reader.get(f"{URL}/wallet-core-staging-runner-abc1234/logs", query)
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json()["detail"].startswith(f"{param}:")


def test_health_check_runs_the_configured_command_now(checker, fleet_settings):
    healthy = checker.get(f"{URL}/wallet-core-staging-web-abc1234/health-check").json()
    assert (healthy["status"], healthy["exit_code"]) == ("healthy", 0)
    assert "wallet-core ok" in healthy["output"]
    assert healthy["duration_ms"] >= 0 and healthy["checked_at"].endswith("Z")
    failing = checker.get(f"{URL}/wallet-core-staging-worker-abc1234/health-check").json()
    assert (failing["status"], failing["exit_code"]) == ("unhealthy", 3)
    assert "failing on purpose" in failing["output"]
    none = checker.get(f"{URL}/wallet-core-staging-runner-abc1234/health-check").json()
    assert (none["status"], none["exit_code"]) == ("none", None)


def test_responses_match_the_openapi_schema(checker, fleet_settings):
    from tests.opsportal.helpers import openapi_schema, schema_validator

    schema = openapi_schema()
    listed = checker.get(URL, {"include_stats": "true", "include_accessories": "true"}).json()
    for container in listed:
        schema_validator(schema, "Container").validate(container)
    schema_validator(schema, "ContainerDetail").validate(checker.get(f"{URL}/wallet-core-staging-web-abc1234").json())
    schema_validator(schema, "Logs").validate(checker.get(f"{URL}/wallet-core-staging-runner-abc1234/logs").json())
    schema_validator(schema, "HealthCheck").validate(
        checker.get(f"{URL}/wallet-core-staging-worker-abc1234/health-check").json()
    )
    schema_validator(schema, "Error").validate(checker.get(URL, {"env": "qa"}).json())
