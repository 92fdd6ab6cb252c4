"""Job accounting: its cost per finished task, and ``GET /queues`` as history grows.

    python -m bench.job_accounting [--records 20000] [--rounds 3]

1. Four processes record finished jobs as fast as they can into one private Redis
   (what four busy workers' signal handlers do): p50 microseconds per record, and
   the same with accounting off.
2. ``GET /queues`` p50 with nothing accounted and with 10 million jobs accounted
   in the last hour (1 % failed, 40 distinct errors), on the same Redis.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import p50_ms, private_postgres_django
from bench.figures import measured, ratio, record, table


def _recorder(url: str | None, count: int, barrier, results) -> None:
    from django.conf import settings

    from opsportal.lib import accounting

    settings.OPSPORTAL_ACCOUNTING_REDIS_URL = url or ""
    accounting._clients.clear()  # a connection of this process's own
    barrier.wait()
    samples = []
    for index in range(count):
        start = time.perf_counter_ns()
        if index % 100 == 0:
            accounting.task_outcome_record(
                queue="payouts", ok=False, job_id=str(index), error="ValueError: card declined"
            )
        else:
            accounting.task_outcome_record(queue="payouts", ok=True, job_id=str(index))
        samples.append(time.perf_counter_ns() - start)
    results.put(statistics.median(samples) / 1000)


def record_p50_us(url: str | None, count: int, processes: int = 4) -> float:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.Queue()
    children = [context.Process(target=_recorder, args=(url, count, barrier, results)) for _ in range(processes)]
    for child in children:
        child.start()
    medians = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return statistics.median(medians)


def fill_history(url: str, jobs: int) -> None:
    """``jobs`` finished jobs spread over the last hour on five queues, 1 % of them failed with 40 texts."""
    import redis

    from opsportal.lib.accounting import KEEP_SECONDS, PREFIX

    client = redis.Redis.from_url(url)
    now = time.time()
    queues = ["payouts", "virtual_account_issue", "webhook_notifications", "pos_settlement", "celery"]
    per_minute = jobs // (60 * len(queues))
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        base = f"{PREFIX}:{queue}"
        for minute in range(60):
            at = now - minute * 60
            pipe.hset(f"{base}:m:{int(at // 60)}", "processed", per_minute)
            pipe.hincrby(f"{base}:t:{int(at // 600)}", "failed", per_minute // 100)
            for error in range(40):
                text = f"Error {error}: something failed"
                pipe.hincrby(f"{base}:e:{int(at // 600)}", text, per_minute // 100 // 40)
                pipe.zadd(f"{base}:recent", {text: at - error})
                pipe.hset(f"{base}:latest", text, f"job-{minute}-{error}")
        for key in client.scan_iter(f"{base}:*"):
            pipe.expire(key, KEEP_SECONDS)
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each measurement; medians are reported")
    args = parser.parse_args()
    from scripts.servers.redis import PrivateRedis

    redis_server = PrivateRedis(Path(tempfile.mkdtemp(prefix="opsredis-")))
    url = redis_server.start()
    os.environ["CELERY_BROKER_URL"] = url
    try:
        with private_postgres_django():
            ons, offs = [], []
            for _ in range(args.rounds):  # interleaved: each round's pair shares its noise
                ons.append(record_p50_us(url, args.records))
                offs.append(record_p50_us(None, args.records))
            on = measured(f"accounting on, p50 per job (4 processes x {args.records})", ons, "us")
            off = measured(f"accounting off, p50 per job (4 processes x {args.records})", offs, "us")
            overheads = [a - b for a, b in zip(ons, offs, strict=True)]
            result = [on, off, measured("accounting overhead per job (on - off, each round)", overheads, "us")]
            print(table(result), flush=True)

            import redis
            from django.conf import settings
            from rest_framework.test import APIClient

            from opsportal.api.tokens import api_token_create

            settings.OPSPORTAL_ACCOUNTING_REDIS_URL = url
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(name='bench', scopes=['read']).secret}")

            def get():
                response = client.get("/api/v1/admin/ops/queues")
                if response.status_code != 200:
                    raise RuntimeError(response.content[:300])

            redis.Redis.from_url(url).flushdb()
            empties = [p50_ms(get, repeat=50) for _ in range(args.rounds)]
            fill_history(url, 10_000_000)
            fulls = [p50_ms(get, repeat=50) for _ in range(args.rounds)]
            empty = measured("GET /queues p50, nothing accounted", empties, "ms")
            full = measured("GET /queues p50, 10,000,000 jobs in the last hour", fulls, "ms")
            result += [empty, full, ratio("GET /queues p50, 10,000,000 jobs / none", full, empty)]
            print(table(result[-3:]))
            print(f"written to {record('job_accounting', result, settings=vars(args))}")
    finally:
        redis_server.destroy()


if __name__ == "__main__":
    main()
