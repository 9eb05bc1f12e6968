"""The Celery worker's consumer, made to survive the broker going away.

With Celery 5.7 / kombu 5.7 on Redis, a worker holding unacknowledged messages (here always:
acks_late tasks and ETA closes waiting for their time) died with "Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'" when Redis stopped: on the
connection error the consumer collects the connection, then closes it, and the close tries to
give the unacknowledged messages back through the transport the collect just cleared.
Nothing can be given back to a broker that is down anyway: those messages stay in Redis's
unacked set and are redelivered after the visibility timeout, and the beat sweeps re-find the
work they stood for sooner. So the consumer logs the failure and reconnects, as it does for
any other connection error (tests/faults/redis_outage.py).
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer

logger = logging.getLogger(__name__)


class ResilientConsumer(Consumer):
    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            logger.warning(
                "broker connection lost; the messages this worker held return after the "
                "visibility timeout (%s); reconnecting",
                error,
            )
