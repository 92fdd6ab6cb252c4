"""A health check on a container that is not running: 409 ``container_not_running``, never Docker's 409 as a 500.

Runs on the private engines: a managed container with a HEALTHCHECK, stopped, is
created for the test and removed afterwards (the shared fleet's stopped job has no
healthcheck, so its check is ``none`` and runs nothing).
"""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission, User

from tests.walletops.conftest import IMAGE, STAGING_SHA, _health
from walletops.clients import docker as engine

pytestmark = pytest.mark.django_db

URL = "/api/v1/admin/ops/containers"
PAGES = "/admin/ops/containers/"
HALTED = "wallet-core-staging-halted-abc1234"


@pytest.fixture
def halted(fleet_settings):
    """A staging app container with a healthcheck, exited."""
    import docker

    client = docker.DockerClient(base_url=fleet_settings.staging_url, version="1.41")
    labels = {"service": "wallet-core-staging", "role": "halted", "version": "abc1234",
              "org.opencontainers.image.revision": STAGING_SHA}  # fmt: skip
    container = client.containers.run(
        IMAGE, ["/bin/true"], name=HALTED, labels=labels, hostname="10.0.0.1-5a1b2c3d4e5f",
        healthcheck=_health("exit 0"), detach=True, init=True, network_mode="host",
    )  # fmt: skip
    container.wait(timeout=30)
    try:
        yield container
    finally:
        container.remove(force=True)
        client.close()


def test_the_api_answers_409_container_not_running(checker, halted):
    response = checker.get(f"{URL}/{HALTED}/health-check", {"env": "staging"})
    assert response.status_code == HTTPStatus.CONFLICT, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "container_not_running"
    assert body["detail"] == f"{HALTED} is exited: its health check runs inside the container, so start it first"


def test_the_409_is_in_the_openapi_schema(checker, halted):
    from tests.opsportal.helpers import openapi_schema, schema_validator

    schema = openapi_schema()
    operation = schema["paths"][f"{URL}/{{name}}/health-check"]["get"]
    assert "409" in operation["responses"]
    schema_validator(schema, "Error").validate(checker.get(f"{URL}/{HALTED}/health-check").json())


def test_the_portal_page_says_the_container_is_not_running(client, halted):
    user = User.objects.create_user("looker", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="run_health_check"))
    client.force_login(user)
    client.raise_request_exception = False
    response = client.post(f"{PAGES}{HALTED}/health-check/?env=staging")
    assert response.status_code == HTTPStatus.CONFLICT
    assert f"container_not_running: {HALTED} is exited".encode() in response.content


def test_the_client_turns_dockers_409_on_exec_into_container_not_running(fleet_settings, halted):
    # The race the inspect can't see: the container stops between the inspect and the exec.
    with pytest.raises(engine.ContainerNotRunning):
        engine.container_exec(fleet_settings.staging_url, halted.id, ["/bin/true"])


def test_a_stopped_container_without_a_healthcheck_still_answers_none(checker, fleet_settings):
    body = checker.get(f"{URL}/wallet-core-staging-job-abc1234/health-check").json()
    assert (body["status"], body["exit_code"], body["docker_health"]["status"]) == ("none", None, "none")


def test_a_container_that_stops_between_the_inspect_and_the_exec_is_409_too(checker, halted, monkeypatch):
    from walletops import containers

    inspect = containers._inspect

    def seen_running(found):  # the inspect saw it running; the engine then refuses the exec with its 409
        result = inspect(found)
        result["State"] = {**result["State"], "Running": True, "Status": "running"}
        return result

    monkeypatch.setattr(containers, "_inspect", seen_running)
    body = checker.get(f"{URL}/{HALTED}/health-check").json()
    assert body == {
        "code": "container_not_running",
        "detail": f"{HALTED} is not running: its health check runs inside the container, so start it first",
    }
