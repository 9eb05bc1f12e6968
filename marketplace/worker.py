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

It also retries the broker every second or two instead of kombu's growing back-off (2, 4, 6
... up to 30 s between attempts), which after a 20 s outage left the worker away for another
8 s, and every effect waiting behind it. An attempt on loopback or a LAN costs nothing.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery.worker.consumer import Consumer

logger = logging.getLogger(__name__)

# Seconds between reconnection attempts: the first, the increase, the most.
RECONNECT_INTERVALS = {"interval_start": 1, "interval_step": 1, "interval_max": 2}


class ResilientConsumer(Consumer):
    def ensure_connected(self, conn: Any) -> Any:
        # Celery calls conn.ensure_connection(errback, max_retries, callback=...) with kombu's
        # default intervals; the instance attribute gives it ours.
        conn.ensure_connection = functools.partial(conn.ensure_connection, **RECONNECT_INTERVALS)
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            logger.warning(
                "broker connection lost; the messages this worker held return after the "
                "visibility timeout (%s); reconnecting",
                error,
            )
