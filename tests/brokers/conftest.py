"""The brokers' tests: a RabbitMQ node shared by the session, left empty after each test."""

from __future__ import annotations

import pytest

from tests.faults.conftest import reader  # noqa: F401 (the fault matrix's read client)


@pytest.fixture
def rabbitmq(rabbitmq_server):
    """The session's RabbitMQ node; every queue is emptied after a test (not deleted: producers in this
    process remember what they declared, as they may, since nothing deletes a portal's queues)."""
    yield rabbitmq_server
    from kombu import Connection

    with Connection(rabbitmq_server.url) as connection:
        channel = connection.channel()
        for name in rabbitmq_server.queues():
            channel.queue_purge(name)


@pytest.fixture
def on_rabbitmq(rabbitmq, monkeypatch):
    """This (web) process reads the node too: ``/queues`` asks the project's Celery app's broker."""
    from opsportal.celery import app as portal_app

    monkeypatch.setattr(portal_app.conf, "broker_url", rabbitmq.url)
    return rabbitmq
