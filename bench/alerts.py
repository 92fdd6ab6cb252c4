"""The alerts' evaluation pass at scale: 100,000 plannings and 200 containers.

    python -m bench.alerts [--plannings 100000] [--containers 200] [--engines 2] [--history 20000]
                           [--repeat 15] [--rounds 3]

Fills a private PostgreSQL like ``bench.health_endpoint`` (the plannings health rule reads it),
then times ``alerts_evaluate()`` (one pass, every default rule enabled) in process, p50 and SQL
statements, in three states: nothing wrong; every container unhealthy (one open alert each);
and the same with ``--history`` resolved alerts added, to show the pass does not read the history.

Fakes, at the client boundary only: the Docker client module's ``containers_with_label`` and
``container_inspect`` answer from memory for N containers on --engines engines (no daemon can hold 2,000
containers on this machine in a benchmark's time), and ``prometheus.query`` answers two hosts.
Everything above them (``walletops.containers``, ``walletops.hosts``, the alerts) is the real code.
The broker is the file broker in a temporary folder; no notification channel is configured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, record, table
from bench.health_endpoint import fill


def _engines_argument() -> int:
    """--engines, read before Django starts: the engines are settings."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--engines", type=int, default=2)
    return max(2, parser.parse_known_args()[0].engines)


# Half the engines in staging, half in production (a list per environment, as the setting allows).
ENGINES = [f"unix:///bench/engine-{i}.sock" for i in range(_engines_argument())]
STAGING = ENGINES[: len(ENGINES) // 2]
os.environ.update(
    WALLETOPS_DOCKER_HOSTS=f"staging={'|'.join(STAGING)};production={'|'.join(ENGINES[len(STAGING) :])}",
    CELERY_BROKER_URL=f"filesystem://{tempfile.mkdtemp(prefix='opsportal-bench-broker-')}",
    WALLETOPS_DEPLOY_INFO_PATH=f"{tempfile.gettempdir()}/no-deploy-info.json",
)


class FakeFleet:
    """N containers split over the engines, their health switchable."""

    def __init__(self, n: int):
        self.n, self.health = n, "healthy"

    def _env(self, url: str) -> str:
        return "staging" if url in STAGING else "production"

    def containers_with_label(self, url: str, label: str) -> list[dict]:
        env = self._env(url)
        return [
            {
                "Id": f"{env}{ENGINES.index(url):04d}{i:056d}",
                "Names": [f"/wallet-core-{env}-web-{ENGINES.index(url)}-{i}"],
                "State": "running",
                "Labels": {"service": f"wallet-core-{env}", "role": "web"},
            }
            for i in range(self.n // len(ENGINES))
        ]

    def container_inspect(self, url: str, container_id: str) -> dict:
        env = self._env(url)
        return {
            "Id": container_id,
            "RestartCount": 0,
            "Created": "2026-03-01T00:00:00Z",
            "State": {
                "Status": "running",
                "Running": True,
                "StartedAt": "2026-03-01T00:00:00Z",
                "Health": {"Status": self.health},
            },
            "Config": {
                "Image": "wallet-core:abc1234",
                "Hostname": "h",
                "Labels": {"service": f"wallet-core-{env}", "role": "web", "version": "abc1234"},
                "Env": [],
            },
            "NetworkSettings": {"Ports": {}},
        }


def prometheus_query(promql: str) -> list[dict]:
    now = time.time()
    return [
        {"metric": {"instance": f"10.0.0.{i}:9100", "nodename": f"host-{i}"}, "value": [now, "0.2"]} for i in (1, 2)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plannings", type=int, default=100_000)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--engines", type=int, default=2, help="half in staging, half in production")
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per state; their median is reported")
    args = parser.parse_args()
    result = []
    with private_postgres_django() as url:
        from django.db import connection

        from opsportal.alerts.models import Alert, Rule
        from opsportal.alerts.services import alerts_evaluate
        from walletops.clients import docker, prometheus

        fleet = FakeFleet(args.containers)
        docker.containers_with_label = fleet.containers_with_label
        docker.container_inspect = fleet.container_inspect
        prometheus.query = prometheus_query
        fill(url, args.plannings)

        def statements() -> int:
            count = [0]

            def counting(execute, sql, params, many, context):
                count[0] += 1
                return execute(sql, params, many, context)

            with connection.execute_wrapper(counting):
                alerts_evaluate()
            return count[0]

        def measure(label: str) -> None:
            p50s = [p50_ms(alerts_evaluate, repeat=args.repeat) for _ in range(args.rounds)]
            open_alerts = Alert.objects.filter(is_open=True).count()
            figures = [
                measured(f"one pass p50, {label}", p50s, "ms", goal_max=1000.0),
                measured(f"SQL statements a pass, {label}", [statements()], "statements"),
                measured(f"open alerts, {label}", [open_alerts], "alerts"),
            ]
            print(table(figures), flush=True)
            result.extend(figures)

        print(f"{args.plannings:,} plannings, {args.containers} containers on {len(ENGINES)} engines, every rule")
        measure("all well")
        fleet.health = "unhealthy"
        measure(f"{args.containers} containers unhealthy")
        rule = Rule.objects.get(kind="container")
        Alert.objects.bulk_create(
            (Alert(rule=rule, target=f"old-{i}", state="resolved", is_open=False) for i in range(args.history)),
            batch_size=5000,
        )
        measure(f"the same with {args.history:,} resolved alerts in the history")
    print(f"written to {record('alerts', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
