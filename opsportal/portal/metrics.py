"""``/metrics``: the portal's own figures in Prometheus's text format, read at scrape time.

Gauges for the plannings health (status, queue, backups) and each queue's depth and
rates; counters for each queue's lifetime processed and failed jobs. A part whose
source is down is left out and ``opsportal_source_up{source=...}`` says which.
"""

from __future__ import annotations

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from opsportal import queues as queue_reports
from opsportal.alerts.selectors import open_alerts
from opsportal.lib import accounting
from opsportal.lib.health_status import LADDER
from plannings.health import health_report

STATUSES = tuple(status.value for status in LADDER)


class PortalCollector:
    def collect(self):
        health = health_report(now=timezone.now())
        status = GaugeMetricFamily("opsportal_plannings_health_status", "1 for the current status", labels=["status"])
        for name in STATUSES:
            status.add_metric([name], 1.0 if health.status == name else 0.0)
        yield status
        queue = GaugeMetricFamily("opsportal_plannings_refresh_queue", "refresh queue rows", labels=["state"])
        for state in ("depth", "ready", "locked"):
            queue.add_metric([state], getattr(health.queue, state))
        yield queue
        backups = GaugeMetricFamily("opsportal_plannings_backups", "plannings and their backups", labels=["kind"])
        for kind in ("total", "covered", "disabled"):
            backups.add_metric([kind], getattr(health.backups, kind))
        yield backups

        report = queue_reports.queues_report(partial=True)
        up = GaugeMetricFamily("opsportal_source_up", "1 when the source answered this scrape", labels=["source"])
        up.add_metric(["broker"], 0.0 if "broker" in report["missing"] else 1.0)
        # The report names accounting as missing both when its Redis is down and when it is off.
        up.add_metric(["accounting"], 0.0 if "accounting" in report["missing"] else 1.0)
        yield up
        depth = GaugeMetricFamily("opsportal_queue_depth", "jobs waiting", labels=["queue", "kind"])
        rate = GaugeMetricFamily("opsportal_queue_processed_per_second", "over 5 minutes", labels=["queue"])
        failures = GaugeMetricFamily("opsportal_queue_failures_last_hour", "failed jobs, 60 minutes", labels=["queue"])
        for row in report["queues"]:
            if row["depth"] is not None:
                depth.add_metric([row["name"], row["kind"]], row["depth"])
            if row["processed_per_sec"] is not None:
                rate.add_metric([row["name"]], row["processed_per_sec"])
                failures.add_metric([row["name"]], row["failures_last_hour"])
        yield from (depth, rate, failures)
        try:
            totals = accounting.queue_totals([row["name"] for row in report["queues"]])
        except accounting.AccountingUnavailable:
            totals = {}
        processed = CounterMetricFamily("opsportal_jobs_processed", "finished jobs", labels=["queue"])
        failed = CounterMetricFamily("opsportal_jobs_failed", "failed jobs", labels=["queue"])
        for name, (done, bad) in totals.items():
            processed.add_metric([name], done)
            failed.add_metric([name], bad)
        yield from (processed, failed)
        yield from _alert_metrics()


def _alert_metrics():
    """Open alerts only (resolved ones leave the series): Prometheus can alert on the portal's own alerts."""
    rows = open_alerts()
    count = GaugeMetricFamily("opsportal_alerts_open", "open alerts by state", labels=["state"])
    for state in ("pending", "alerting"):
        count.add_metric([state], sum(1 for alert in rows if alert.state == state))
    one = GaugeMetricFamily(
        "opsportal_alert", "1 per open alert", labels=["rule", "kind", "target", "state", "flapping"]
    )
    for alert in rows:
        one.add_metric([alert.rule.name, alert.rule.kind, alert.target, alert.state, str(alert.flapping).lower()], 1.0)
    return count, one


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry)
