"""``manage.py ops_health``: the health JSON on stdout, and the status as the exit code."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db


def _ops_health() -> tuple[int, dict]:
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("ops_health", stdout=out)
    return exit_info.value.code, json.loads(out.getvalue())


def test_it_exits_0_when_healthy():
    factories.both_jobs_running()
    code, report = _ops_health()
    assert (code, report["status"]) == (0, "healthy")


def test_it_exits_1_when_degraded():
    factories.both_jobs_running()
    factories.jobs_paused()
    code, report = _ops_health()
    assert (code, report["issues"]) == (1, ["Jobs paused"])


def test_it_exits_2_when_unhealthy():
    factories.runtime_make("plannings-refresh-worker", "idle", last_loop_at=timezone.now() - timedelta(minutes=10))
    code, report = _ops_health()
    assert code == 2
    assert report["issues"][0].startswith("Refresh worker stale")


def test_it_prints_the_same_payload_as_the_endpoint(api_client):
    factories.both_jobs_running()
    factories.backup_make(factories.planning_make())
    _, report = _ops_health()
    assert report == api_client.get("/api/ops/plannings").json()
