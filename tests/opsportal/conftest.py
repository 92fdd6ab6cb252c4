"""Fixtures shared by the portal's tests."""

import pytest

from scripts.servers.postgres import free_port
from tests.import_contracts import tree  # noqa: F401 (a fixture: a copy of the tree to plant imports in)


@pytest.fixture
def outages(settings, monkeypatch, tmp_path):
    """Every external system of the dashboard down at once: Docker, Prometheus, the broker, deploy info."""
    from opsportal.celery import app

    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/no-docker.sock"], "production": []}
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.WALLETOPS_DEPLOY_INFO_PATH = tmp_path / "deploy_info.json"
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
