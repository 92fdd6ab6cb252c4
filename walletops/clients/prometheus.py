"""The one client for Prometheus: instant PromQL queries over HTTP (httpx), with a timeout.

Every way Prometheus can fail (refused, slow, non-2xx, ``status: error``, a body
that is not its JSON) becomes ``PrometheusDown`` with a sentence saying which.
"""

from __future__ import annotations

import httpx
from django.conf import settings


class PrometheusDown(Exception):
    pass


def query(promql: str) -> list[dict]:
    """The result vector of an instant query: ``[{"metric": {...}, "value": [ts, "v"]}, ...]``."""
    url = f"{settings.WALLET_CORE_OPS_PROMETHEUS_URL}/api/v1/query"
    try:
        response = httpx.get(url, params={"query": promql}, timeout=settings.WALLETOPS_PROMETHEUS_TIMEOUT)
    except httpx.TimeoutException:
        raise PrometheusDown(f"Prometheus did not answer within {settings.WALLETOPS_PROMETHEUS_TIMEOUT} s") from None
    except httpx.HTTPError as exc:
        raise PrometheusDown(f"Prometheus unreachable: {type(exc).__name__}") from None
    if not response.is_success:
        raise PrometheusDown(f"Prometheus answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise PrometheusDown("Prometheus answered something that is not JSON") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise PrometheusDown(f"Prometheus query failed: {error or 'unexpected answer'}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise PrometheusDown("Prometheus answered an unexpected result type")
    return data["result"]
