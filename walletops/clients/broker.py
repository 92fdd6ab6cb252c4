"""The one client for the Celery broker: queue depths, through kombu (Redis or RabbitMQ alike).

It knows only its server: the Celery app (and so the broker URL) is given by the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kombu.exceptions import ChannelError, OperationalError

if TYPE_CHECKING:
    from celery import Celery


class BrokerDown(Exception):
    pass


def queue_depths(app: Celery, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue of ``app``'s broker; a queue the broker does not know (yet) has none.

    The caller passes the Celery app whose broker it means (the project's, in ``opsportal.queues``).
    """
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
