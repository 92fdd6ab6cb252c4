"""The Deploys page (Operations nav) and the dashboard's Deploy panel: the lock, drift and the timeline."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.walletops.kamal_files import audit_record, lock_acquire

pytestmark = pytest.mark.django_db
SERVICE = "wallet-core"


@pytest.fixture
def hosts(tmp_path, settings):
    folders = {name: tmp_path / name for name in ("web-1", "web-2")}
    for folder in folders.values():
        (folder / ".kamal").mkdir(parents=True)
    settings.WALLETOPS_SERVICE = SERVICE
    settings.WALLETOPS_ENVS = ["staging", "production"]
    settings.WALLETOPS_KAMAL_RUN_DIRS = {name: folder / ".kamal" for name, folder in folders.items()}
    # No engine answers here (drift itself is tested on real engines in test_deploys_drift.py).
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/none.sock"],
                                       "production": [f"unix://{tmp_path}/none.sock"]}  # fmt: skip
    return folders


def test_the_deploys_page_shows_lock_deploys_and_timeline(admin_client, hosts):
    now = timezone.now().replace(microsecond=0)
    for folder in hosts.values():
        audit_record(folder, SERVICE, now - timedelta(hours=2), "ana@example.com", "Booted app version v42",
                     destination="production", role="web")  # fmt: skip
    lock_acquire(hosts["web-2"], SERVICE, now - timedelta(hours=5, minutes=3), holder="CI runner", version="v43",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    page = admin_client.get("/admin/ops/deploys/", {"destination": "production"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Held by <strong>CI runner</strong> on web-2" in html and "5 h 3 min" in html
    assert html.count("Booted app version v42") == 2
    assert 'href="/admin/ops/deploys/"' in admin_client.get("/admin/").content.decode()  # in the Operations nav
    assert admin_client.get("/admin/ops/deploys/", {"destination": "qa"}).status_code == 400


def test_the_dashboard_deploy_panel_shows_the_lock_at_a_glance(admin_client, hosts, settings, tmp_path):
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"
    settings.WALLETOPS_DEPLOY_INFO_PATH.write_text(json.dumps({
        "current_tag": "v42", "previous_tag": None, "commit_sha": "", "deployed_by": "ana",
        "deployed_at": "2026-12-07T18:00:00Z",
    }))  # fmt: skip
    panel = admin_client.get("/admin/ops/panels/deploy/").content.decode()
    assert "Kamal lock: not held." in panel
    lock_acquire(hosts["web-1"], SERVICE, timezone.now() - timedelta(days=28), holder="CI runner", version="v43",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    panel = admin_client.get("/admin/ops/panels/deploy/").content.decode()
    assert "held by CI runner for 28 d 0 h" in panel


def test_the_deploy_panel_shows_lock_and_drift_without_deploy_info(admin_client, hosts, settings, tmp_path):
    # Each of the panel's three reads stands alone: a missing deploy_info.json (no post-deploy hook run yet) is
    # the panel's first line, the lock and drift are still shown below it.
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"  # none
    lock_acquire(hosts["web-1"], SERVICE, timezone.now() - timedelta(days=28), holder="CI runner", version="v43",
                 message="Automatic deploy lock", destination="production")  # fmt: skip
    panel = admin_client.get("/admin/ops/panels/deploy/").content.decode()
    assert "deploy_info_missing: deploy_info.json not found" in panel
    assert "WALLETOPS_DEPLOY_INFO_PATH" in panel  # what to set, as a failed panel says
    assert "held by CI runner for 28 d 0 h" in panel
    assert 'id="deploy-drift-glance"' in panel
    # No engine answers here: drift is said to be not judged there, not "the same everywhere".
    assert "Not judged: staging (" in panel and "production (" in panel
