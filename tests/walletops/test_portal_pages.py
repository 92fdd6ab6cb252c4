"""The Containers pages of the portal on the two private Docker engines: list, detail, logs, health check, restart."""

import re
import time
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission, User

from opsportal.audit.models import AuditEvent

RESTARTS = AuditEvent.objects.filter(action="container.restart")

PAGES = "/admin/ops/containers/"
WORKER = "wallet-core-production-worker-def5678"
pytestmark = pytest.mark.django_db


def _login(client, username: str, *permissions: str):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.login(username=username, password="pw")
    return client


@pytest.fixture
def looker(client):
    return _login(client, "looker")


@pytest.fixture
def checker(client):
    return _login(client, "checker", "run_health_check")


@pytest.fixture
def restarter(client):
    return _login(client, "restarter", "restart_container")


def _rows(body: str) -> list[str]:
    return re.findall(r'<tr data-name="([^"]+)"', body)


def test_the_list_shows_each_env_with_toggles(looker, fleet_settings):
    body = looker.get(PAGES).content.decode()
    assert sorted(_rows(body)) == sorted([
        "wallet-core-staging-web-abc1234", "wallet-core-staging-runner-abc1234", "wallet-core-staging-worker-abc1234",
        "wallet-core-staging-job-abc1234", "wallet-core-production-web-def5678", WORKER,
    ])  # fmt: skip
    assert "ops-badge-exited" in body and "ops-badge-running" in body
    staging = looker.get(PAGES, {"env": "staging", "include_accessories": "1"}).content.decode()
    assert "wallet-core-staging-redis" in _rows(staging) and WORKER not in _rows(staging)
    assert "accessory: redis" in staging
    with_stats = looker.get(PAGES, {"env": "production", "include_stats": "1"}).content.decode()
    assert "<th>CPU %</th>" in with_stats and "<th>CPU %</th>" not in body


def test_a_bad_toggle_is_a_clear_400(looker, fleet_settings):
    response = looker.get(PAGES, {"env": "moon"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"invalid_param: env: unknown env" in response.content


def test_the_container_page_shows_labels_ports_and_health_log(looker, fleet_settings):
    name = "wallet-core-staging-web-abc1234"
    deadline = time.monotonic() + 30
    while True:  # the engine runs the first health check about a second after the start
        body = looker.get(f"{PAGES}{name}/").content.decode()
        if "exit 0" in body or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "org.opencontainers.image.revision" in body and "abc1234def5678" in body
    assert "exit 0" in body  # a health log entry
    # A staff user without the permissions sees no action: neither health check nor restart.
    assert "Run health check" not in body and "Restart…" not in body


def test_logs_tail_since_and_grep(looker, fleet_settings):
    url = f"{PAGES}wallet-core-staging-runner-abc1234/logs/"
    body = looker.get(url, {"tail": "3", "grep": "tick"}).content.decode()
    lines = re.search(r'<pre class="ops-logs" id="logs">(.*?)</pre>', body, re.S).group(1).strip().splitlines()
    assert len(lines) == 3 and all("tick" in line for line in lines)
    ticks = [int(re.search(r"tick (\d+)", line).group(1)) for line in lines]
    assert ticks == sorted(ticks)  # newest at the bottom
    regex = looker.get(url, {"tail": "50", "grep": "/^red started$/"}).content.decode()
    assert "red started" in regex and "tick" not in regex.split('id="logs">')[1]  # ANSI colours stripped
    bad = looker.get(url, {"since": "yesterday"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST and b"since: expected ISO-8601" in bad.content


def test_a_health_check_runs_the_containers_own_command(checker, fleet_settings):
    worker = checker.post(f"{PAGES}wallet-core-staging-worker-abc1234/health-check/?env=staging").content.decode()
    assert "ops-badge-unhealthy" in worker and "exit 3" in worker and "failing on purpose" in worker
    web = checker.post(f"{PAGES}wallet-core-staging-web-abc1234/health-check/").content.decode()
    assert "ops-badge-healthy" in web and "exit 0" in web
    assert checker.get(f"{PAGES}wallet-core-staging-web-abc1234/health-check/").status_code == 405


def test_a_restart_needs_the_typed_name_then_restarts_and_shows_the_audit(restarter, fleet_settings):
    page = f"{PAGES}{WORKER}/"
    before = re.search(r'<th>Started</th><td><time datetime="([^"]+)"', restarter.get(page).content.decode()).group(1)
    assert "Restart…" in restarter.get(page).content.decode()
    confirm = restarter.get(f"{page}restart/")
    assert confirm.status_code == HTTPStatus.OK and b"Type the container" in confirm.content
    wrong = restarter.post(f"{page}restart/", {"confirm_name": "wallet-core-production-web-def5678", "timeout": 1})
    assert wrong.status_code == HTTPStatus.BAD_REQUEST and b"nothing was restarted" in wrong.content
    assert not RESTARTS.exists()
    done = restarter.post(f"{page}restart/", {"confirm_name": WORKER, "timeout": 1}, follow=True)
    assert done.status_code == HTTPStatus.OK
    body = done.content.decode()
    after = re.search(r'<th>Started</th><td><time datetime="([^"]+)"', body).group(1)
    assert after > before
    audit = RESTARTS.get()
    assert (audit.targets, audit.outcome, audit.actor, audit.via, audit.token_name) == (
        [WORKER], "ok", "restarter", "portal", "",
    )  # fmt: skip
    assert audit.detail.startswith("env production: restarted in ")
    assert re.search(r'id="restart-audit".*<td>container.restart</td><td>ok</td><td>restarter ', body, re.S)


def test_without_the_permission_the_restart_is_403_and_audited_once(looker, fleet_settings):
    assert looker.get(f"{PAGES}{WORKER}/restart/").status_code == HTTPStatus.FORBIDDEN
    assert not RESTARTS.exists()  # looking is not an attempt
    response = looker.post(f"{PAGES}{WORKER}/restart/", {"confirm_name": WORKER, "timeout": 1})
    assert response.status_code == HTTPStatus.FORBIDDEN
    audit = RESTARTS.get()
    assert (audit.outcome, audit.actor, audit.targets) == ("refused", "looker", [WORKER])


def test_a_restart_without_the_csrf_token_is_refused_before_anything_happens(restarter, fleet_settings):
    restarter.handler.enforce_csrf_checks = True
    response = restarter.post(f"{PAGES}{WORKER}/restart/", {"confirm_name": WORKER, "timeout": 1})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not RESTARTS.exists()


def test_portal_restarts_are_rate_limited_per_user(restarter, fleet_settings, settings):
    settings.WALLETOPS_RESTARTS_PER_MINUTE = 1
    url = f"{PAGES}{WORKER}/restart/"
    assert restarter.post(url, {"confirm_name": WORKER, "timeout": 0}).status_code == HTTPStatus.FOUND
    throttled = restarter.post(url, {"confirm_name": WORKER, "timeout": 0})
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert b"throttled: more than 1 restarts a minute by this user" in throttled.content
    assert list(RESTARTS.order_by("id").values_list("outcome", flat=True)) == [
        "ok", "refused",
    ]  # fmt: skip


def test_pages_say_when_docker_is_down(looker, settings, tmp_path):
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/none.sock"], "production": []}
    for url in (PAGES, f"{PAGES}{WORKER}/", f"{PAGES}{WORKER}/logs/"):
        response = looker.get(url)
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert b"docker_unavailable" in response.content and b"Traceback" not in response.content


def test_an_unknown_container_is_404(looker, fleet_settings):
    response = looker.get(f"{PAGES}nope/")
    assert response.status_code == HTTPStatus.NOT_FOUND and b"container_not_found" in response.content


def test_the_dashboard_counts_containers_per_env(admin_client, fleet_settings):
    body = admin_client.get("/admin/ops/panels/containers/").content.decode()
    rows = dict(re.findall(r'\?env=(\w+)&amp;include_accessories=1">\w+</a></td>\s*<td>(\d+)</td>', body))
    assert rows == {"staging": "5", "production": "2"}  # accessories included: staging has redis


def test_non_staff_users_get_the_login_page(client, fleet_settings):
    User.objects.create_user("visitor", password="pw")
    client.login(username="visitor", password="pw")
    response = client.post(f"{PAGES}{WORKER}/restart/", {"confirm_name": WORKER})
    assert response["Location"].startswith("/admin/login/")
    assert not RESTARTS.exists()
