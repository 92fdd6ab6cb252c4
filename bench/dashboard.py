"""The operations dashboard and the plannings change list at scale.

    python -m bench.dashboard [--sizes 1000,100000] [--repeat 15] [--rounds 3]

For each size, fills a private PostgreSQL like ``bench.health_endpoint`` (80 %
backed up, 30 % queued, 8 % disabled, 25 schools), then measures in one run,
in process through Django's test client as a logged-in superuser:
  * the whole dashboard page and the plannings panel alone, p50 and SQL statements;
  * the health payload alone (what ``GET /api/ops/plannings`` computes), p50, as the yardstick;
  * the plannings change list, bare and with each choice of each of its filters (the first and last
    host), and page 50 of the queued, p50 and SQL statements.
Docker, Prometheus and the broker point at closed ports so their panels fail fast
and only the database work is timed; the goal is a fixed number of statements,
whatever the table size.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, ratio, record, table
from bench.health_endpoint import fill
from scripts.servers.postgres import free_port

os.environ.update(
    WALLETOPS_DOCKER_HOSTS=f"staging=unix://{tempfile.gettempdir()}/no-docker-here.sock",
    WALLET_CORE_OPS_PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}",
    WALLETOPS_DEPLOY_INFO_PATH=f"{tempfile.gettempdir()}/no-deploy-info.json",
)


def _measure(client, url: str, repeat: int) -> tuple[float, int]:
    from django.db import connection

    def get():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")

    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    # An execute wrapper, not CaptureQueriesContext: each request resets Django's query log.
    with connection.execute_wrapper(count):
        get()
    return p50_ms(get, repeat=repeat), len(statements)


def _filters() -> list[str]:
    """One query string per choice of each filter of the plannings change list (the host filter: its first
    and last host, the last one's plannings sorted after every other's), and a later page of the queue."""
    from django.contrib import admin
    from django.test import RequestFactory

    from plannings.models import Planning

    model_admin = admin.site._registry[Planning]
    request = RequestFactory().get("/")
    urls = []
    for list_filter in model_admin.list_filter:
        if isinstance(list_filter, type) and hasattr(list_filter, "parameter_name"):
            choices = list_filter(request, {}, Planning, model_admin).lookup_choices
            if list_filter.parameter_name == "host":
                choices = [choices[0], choices[-1]] if choices else []
            urls += [f"?{list_filter.parameter_name}={value}" for value, _ in choices]
    return [*urls, "?queued=yes&p=50"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="p50s measured per page; their median is reported")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    result, first = [], {}
    with private_postgres_django() as url:
        from django.contrib.auth.models import User
        from django.test import Client

        from plannings.health import health_report
        from plannings.web.serializers import health_json

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.create_superuser("bench", "bench@example.test", "bench"))
        for n in sizes:
            fill(url, n)
            pages = ["/admin/ops/", "/admin/ops/panels/plannings/", "/admin/plannings/planning/"]
            pages += [f"/admin/plannings/planning/{query}" for query in _filters()]
            healths, p50s, statements = [], {page: [] for page in pages}, {}
            for _ in range(args.rounds):  # pages and yardstick interleaved: each round shares its noise
                healths.append(p50_ms(lambda: health_json(health_report()), repeat=args.repeat))
                for page in pages:
                    p50, statements[page] = _measure(client, page, args.repeat)
                    p50s[page].append(p50)
            health = measured(f"health payload (the API yardstick), {n:,} plannings", healths, "ms")
            figures = [health]
            for page in pages:
                figure = measured(f"{page} p50, {n:,} plannings", p50s[page], "ms")
                figures += [
                    figure,
                    measured(f"{page} SQL statements, {n:,} plannings", [statements[page]], "statements"),
                    ratio(f"{page} / health payload, {n:,} plannings", figure, health),
                ]
                if page in first:
                    figures.append(
                        ratio(f"{page} p50 {n:,} / {sizes[0]:,} plannings", figure, first[page], goal_max=2.0)
                    )
                else:
                    first[page] = figure
            print(table(figures), flush=True)
            result += figures
    print(f"written to {record('dashboard', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
