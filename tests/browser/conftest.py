"""A real Chromium, driven by Playwright, against the portal's dev server on PostgreSQL and the private engines."""

import os
from pathlib import Path

import pytest
from django.conf import settings

# The private engines and the live-follow tickers, shared with the wallet ops tests.
from tests.walletops.conftest import fleet, fleet_settings, follow_env, tickers  # noqa: F401 (fixtures)

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser(django_db_setup):
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        pytest.fail(f"CI=true and {reason}") if settings.IN_CI else pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls beside a running
    # loop; the tests' own ORM calls stay synchronous, so the check is lifted while the browser is open.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where page screenshots go: ``OPSPORTAL_SCREENSHOTS`` (``make screenshots``) or this test's tmp dir."""
    folder = Path(os.environ.get("OPSPORTAL_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def portal(live_portal):
    return live_portal(deploy_info={
        "current_tag": "v2026.11.23-1", "previous_tag": "v2026.11.20-3", "commit_sha": "4f1c2e9a7b3d",
        "deployed_by": "ana", "deployed_at": "2026-11-23T09:12:00Z",
    })  # fmt: skip
