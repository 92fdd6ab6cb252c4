"""Host CPU and memory from node-exporter metrics in Prometheus (``GET /hosts``)."""

from __future__ import annotations

from django.conf import settings

from opsportal.lib.timefmt import iso_from_timestamp
from walletops.clients import prometheus
from walletops.exceptions import PrometheusUnavailable

CPU = '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'
MEMORY = "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"
UNAME = "node_uname_info"


def _by_instance(result: list[dict]) -> dict[str, tuple[float, float]]:
    """instance -> (value, sample timestamp)."""
    values = {}
    for sample in result:
        instance = (sample.get("metric") or {}).get("instance")
        try:
            timestamp, value = float(sample["value"][0]), float(sample["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if instance:
            values[instance] = (value, timestamp)
    return values


def hosts_report() -> dict:
    try:
        cpu = _by_instance(prometheus.query(CPU))
        memory = _by_instance(prometheus.query(MEMORY))
        names = {
            (s.get("metric") or {}).get("instance"): (s.get("metric") or {}).get("nodename")
            for s in prometheus.query(UNAME)
        }
    except prometheus.PrometheusDown as exc:
        raise PrometheusUnavailable(str(exc)) from None
    instances = sorted(set(cpu) | set(memory))
    if not instances:
        raise PrometheusUnavailable("Prometheus has no node-exporter metrics (node_cpu_seconds_total, node_memory_*)")
    thresholds = {"cpu": settings.WALLETOPS_CPU_THRESHOLD, "mem": settings.WALLETOPS_MEM_THRESHOLD}
    hosts, latest = [], 0.0
    for instance in instances:
        cpu_util = round(cpu[instance][0], 4) if instance in cpu else None
        mem_util = round(memory[instance][0], 4) if instance in memory else None
        latest = max([latest] + [pair[1] for pair in (cpu.get(instance), memory.get(instance)) if pair])
        hosts.append(
            {
                "name": names.get(instance) or instance.rsplit(":", 1)[0],
                "instance": instance,
                "cpu_util": cpu_util,
                "mem_util": mem_util,
                "alert": bool(
                    (cpu_util is not None and cpu_util >= thresholds["cpu"])
                    or (mem_util is not None and mem_util >= thresholds["mem"])
                ),
            }
        )
    return {"thresholds": thresholds, "hosts": hosts, "updated_at": iso_from_timestamp(latest)}
