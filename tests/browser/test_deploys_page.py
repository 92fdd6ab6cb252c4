"""The Deploys page in Chromium at 1280 px: a held lock, the latest deploys and the timeline of three hosts,
no sideways scroll. Its screenshot is docs/screenshots/deploys.png (``make screenshots``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from opsportal.audit.models import AuditEvent
from tests.browser.helpers import jobs_page_measure, page_show
from tests.walletops.kamal_files import audit_record, lock_acquire
from walletops.deploys import services
from walletops.deploys.formats import hook_event_parse

pytestmark = pytest.mark.django_db
PAGE = "/admin/ops/deploys/"
ROLES = {"web-1": "web", "web-2": "web", "worker-1": "workers"}


def test_the_deploys_page_fits_1280_px(browser, admin_client, screenshots, settings, tmp_path):
    settings.WALLETOPS_SERVICE, settings.WALLETOPS_ENVS = "wallet-core", ["staging", "production"]
    settings.WALLETOPS_KAMAL_RUN_DIRS = {host: tmp_path / host / ".kamal" for host in ROLES}
    settings.WALLETOPS_DOCKER_HOSTS = {env: ["unix:///run/engine-of-the-demo.sock"] for env in settings.WALLETOPS_ENVS}
    start = timezone.now().replace(microsecond=0) - timedelta(hours=6)
    for n, version in enumerate(["4f1c2e9", "8a0b3d1"]):
        moment = start + timedelta(hours=3 * n)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        variables = {
            "KAMAL_RECORDED_AT": stamp, "KAMAL_SERVICE": "wallet-core", "KAMAL_DESTINATION": "production",
            "KAMAL_VERSION": version, "KAMAL_PERFORMER": "ana@example.com", "KAMAL_COMMAND": "deploy",
        }  # fmt: skip
        services.hook_event_store(hook_event_parse("pre-deploy", {**variables, "KAMAL_LOCK": "true"}))
        for step, (host, role) in enumerate(ROLES.items()):
            (tmp_path / host).mkdir(exist_ok=True)
            audit_record(tmp_path / host, "wallet-core", moment + timedelta(seconds=20), "ana@example.com",
                         f"Pulled image with version {version}", destination="production")  # fmt: skip
            audit_record(tmp_path / host, "wallet-core", moment + timedelta(seconds=40 + step), "ana@example.com",
                         f"Booted app version {version}", destination="production", role=role)  # fmt: skip
        after = (moment + timedelta(seconds=95)).strftime("%Y-%m-%dT%H:%M:%SZ")
        services.hook_event_store(hook_event_parse("post-deploy", {**variables, "KAMAL_RECORDED_AT": after,
                                                                   "KAMAL_RUNTIME": "95"}))  # fmt: skip
    restarted = ["wallet-core-web-production-8a0b3d1"]
    AuditEvent.objects.create(actor="bo", via="portal", action="container.restart", outcome="ok", targets=restarted,
                              created_at=start + timedelta(hours=4))  # fmt: skip
    lock_acquire(tmp_path / "web-1", "wallet-core", start + timedelta(hours=5), holder="GitHub Actions",
                 version="c3e9f70", message="Automatic deploy lock", destination="production")  # fmt: skip
    html = admin_client.get(PAGE, {"destination": "production"}).content.decode()
    context, page = page_show(browser, html, width=1280, path=PAGE)
    assert jobs_page_measure(page)["overflow"] <= 0
    assert "Held by GitHub Actions on web-1" in page.inner_text("#deploy-lock")
    assert page.locator("#deploys-timeline tbody tr").count() == 2 * (2 + 6) + 1
    page.screenshot(path=screenshots / "deploys.png", full_page=True)
    context.close()
