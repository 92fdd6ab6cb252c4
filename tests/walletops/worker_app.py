"""A Celery worker for the queue tests: the portal's app plus wallet-core-like jobs that can fail."""

from opsportal.celery import app


@app.task(name="tests.wallet_job")
def wallet_job(fail: bool = False) -> str:
    if fail:
        raise ValueError("card declined")
    return "ok"


__all__ = ["app"]
