"""The one client for the Celery broker: queue depths, through kombu (Redis or RabbitMQ alike)."""

from __future__ import annotations

from kombu.exceptions import ChannelError, OperationalError


class BrokerDown(Exception):
    pass


def queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue; a queue the broker does not know (yet) has none."""
    from opsportal.celery import app

    depths = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            channel = connection.default_channel
            for queue in queues:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:
                    depths[queue] = 0
    except (OperationalError, OSError, ConnectionError) as exc:
        raise BrokerDown(f"the Celery broker cannot be reached: {type(exc).__name__}") from None
    return depths
