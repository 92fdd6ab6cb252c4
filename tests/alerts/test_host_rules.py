"""The hosts rule against a private Prometheus scraping two node exporters: hosts over a threshold
fire; a stopped Prometheus is one alert naming the hosts, whose own alerts wait for it."""

import os
import time

import pytest

from opsportal.alerts.models import Alert
from opsportal.alerts.services import alerts_evaluate
from walletops.exceptions import PrometheusUnavailable
from walletops.hosts import hosts_report

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


def _ready(count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(hosts := hosts_report()["hosts"]) == count and all(h["mem_util"] is not None for h in hosts):
                return
        except PrometheusUnavailable:
            pass
        time.sleep(0.2)  # Prometheus scrapes every second: a ready answer is read within a fifth of one
    raise AssertionError(f"Prometheus never reported {count} hosts")


def test_hosts_over_the_threshold_fire_and_a_stopped_prometheus_is_one_alert(settings, prometheus_stack, only_rules):
    server, exporters = prometheus_stack
    settings.WALLET_CORE_OPS_PROMETHEUS_URL = server.url
    only_rules("host", grace_evaluations=1, grace_seconds=0, thresholds={"cpu": 1.0, "mem": 0.0001})
    _ready(2)
    assert alerts_evaluate().fired == 2
    node = os.uname().nodename  # both exporters run here: one node name, told apart by their instance
    expected = {f"{node} ({exporter.target})" for exporter in exporters}
    alerts = {a.target: a for a in Alert.objects.filter(state="alerting")}
    assert set(alerts) == expected
    assert all("mem" in a.message and "≥ 0%" in a.message for a in alerts.values())
    server.stop()
    try:
        assert alerts_evaluate().fired == 1
        prometheus = Alert.objects.get(target="prometheus")
        assert prometheus.state == "alerting" and all(name in prometheus.message for name in expected)
        assert Alert.objects.filter(target__in=expected, state="alerting").count() == 2  # unknown: left alone
    finally:
        server.start()
    _ready(2)
    alerts_evaluate()
    assert Alert.objects.get(target="prometheus").state == "resolved"
