"""The broker URL alone decides the Celery options (opsportal/settings.py): RabbitMQ gets quorum queues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import json, django; django.setup(); from opsportal.celery import app; c = app.conf; print(json.dumps(["
    "c.task_default_queue_type, c.task_default_exchange_type, c.task_create_missing_queue_type, "
    "c.worker_detect_quorum_queues, c.broker_transport_options.get('confirm_publish', False)]))"
)


def _celery_options(broker_url: str) -> list:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DJANGO_ENV": "test",
           "DATABASE_URL": "sqlite:///:memory:", "CELERY_BROKER_URL": broker_url}  # fmt: skip
    command = [sys.executable, "-c", READ]
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("url", ["amqp://portal:secret@rabbit:5672//", "amqps://portal:secret@rabbit:5671/ops"])
def test_a_rabbitmq_broker_gets_quorum_queues_on_topic_exchanges_and_confirms(url):
    assert _celery_options(url) == ["quorum", "topic", "quorum", True, True]


def test_a_redis_broker_keeps_celerys_defaults():
    assert _celery_options("redis://127.0.0.1:6379/0") == ["classic", "direct", "classic", True, False]
