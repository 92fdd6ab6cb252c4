"""The dashboard's badge is the portal's verdict (the worst open alert), with the upstream API's status
beside it under its own name: never "healthy" while a feeds alert is open, nor while nothing evaluates."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from opsportal.alerts.models import Rule
from opsportal.alerts.services import alerts_evaluate
from plannings.models import PlanningRefreshState
from tests import factories
from tests.opsportal.helpers import DASHBOARD, panel_html

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("outages")]


@pytest.fixture
def feeds_only():
    """The feeds rule alone (the others read servers this test does not start)."""
    Rule.objects.exclude(kind="feeds").update(enabled=False)
    Rule.objects.filter(kind="feeds").update(grace_evaluations=2, grace_seconds=0)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def _feeds_failing() -> None:
    """125 feeds, all backed up; 24 failing and retrying, none disabled, so the API's rule sees nothing:
    20 of iut's 60 (33 %, over the host share), 4 of enscr's 40 (10 %), 19 % of the catalog."""
    factories.both_jobs_running()
    schools = {school: factories.plannings_make(count, school=school) for school, count in
               (("iut", 60), ("enscr", 40), ("insa", 25))}  # fmt: skip
    for plannings in schools.values():
        for planning in plannings:
            factories.backup_make(planning)
    for planning in schools["iut"][:20] + schools["enscr"][:4]:
        factories.state_make(planning, last_failure_kind="http_5xx", consecutive_failures=1)


def _page(client) -> dict[str, str]:
    body = client.get(DASHBOARD).content.decode()
    plannings = panel_html(body, "plannings")
    return {
        "verdict": re.search(r'id="plannings-verdict-badge" data-verdict="(\w+)"', plannings).group(1),
        "api": re.search(r'API status\s*<span class="[^"]*" data-status="(\w+)"', plannings).group(1),
        "alerts": _text(re.search(r'<p id="plannings-alerts">.*?</p>', plannings, re.S).group(0)),
        "top": re.search(r'<p class="ops-alerts-badge[^>]*>\s*<span [^>]*data-verdict="(\w+)"', body).group(1),
    }


def test_open_feeds_alerts_make_the_verdict_beside_a_healthy_api_status(admin_client, feeds_only):
    _feeds_failing()
    assert alerts_evaluate().opened == 2  # host iut and the catalog, pending
    page = _page(admin_client)
    assert (page["verdict"], page["api"], page["top"]) == ("degraded", "healthy", "degraded")
    assert page["alerts"] == (
        "Verdict degraded: 0 alerting, 2 pending (Feeds: catalog pending, Feeds: host iut pending)."
    )

    assert alerts_evaluate().fired == 2
    page = _page(admin_client)
    assert (page["verdict"], page["api"], page["top"]) == ("unhealthy", "healthy", "unhealthy")
    assert page["alerts"] == (
        "Verdict unhealthy: 2 alerting, 0 pending (Feeds: catalog alerting, Feeds: host iut alerting)."
    )

    PlanningRefreshState.objects.update(last_failure_kind=None)  # the failures stop
    alerts_evaluate(), alerts_evaluate()
    page = _page(admin_client)
    assert (page["verdict"], page["api"], page["top"]) == ("healthy", "healthy", "healthy")
    assert page["alerts"] == "Verdict healthy: no alert open."


def test_the_verdict_is_unknown_while_the_evaluator_does_not_pass(admin_client, feeds_only, settings):
    factories.both_jobs_running()
    page = _page(admin_client)
    assert (page["verdict"], page["api"]) == ("unknown", "healthy")  # watched by nothing: not "healthy"
    assert page["alerts"] == "Verdict unknown: no alert open; the alerts have not been evaluated yet."
    alerts_evaluate()
    assert _page(admin_client)["verdict"] == "healthy"
    later = timezone.now() + timedelta(seconds=3 * settings.OPSPORTAL_ALERTS_EVALUATE_SECONDS + 60)
    with time_machine.travel(later, tick=False):
        factories.JobRuntime.objects.update(last_loop_at=timezone.now())
        page = _page(admin_client)
    assert page["verdict"] == page["top"] == "unknown"
    assert page["alerts"] == "Verdict unknown: no alert open; the alerts have not been evaluated since 4 min ago."


def test_the_verdict_counts_only_the_plannings_rules_and_the_top_badge_every_rule(admin_client, feeds_only):
    from opsportal.alerts.models import Alert

    factories.both_jobs_running()
    alerts_evaluate()
    Alert.objects.create(rule=Rule.objects.get(kind="container"), target="web-1", state="alerting")
    page = _page(admin_client)
    assert (page["verdict"], page["top"]) == ("healthy", "unhealthy")
