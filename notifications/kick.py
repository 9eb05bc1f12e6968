"""Best-effort sends of notifications' tasks from a request or a relay, which never wait for a
broker that is down: a connection of its own that does not retry (the pooled one retries for
seconds), and after a failure no send is tried for ``PAUSE`` seconds. A lost send only delays:
the beat-driven relay finds the rows (``notifications.services.relay``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from celery import Task, current_app
from kombu import Connection

logger = logging.getLogger(__name__)
PAUSE = 2.0

_lock = threading.Lock()
_connection: tuple[str, Connection] | None = None
_down_until = 0.0


def _connection_now() -> Connection:
    global _connection
    url = str(current_app.conf.broker_url)
    if _connection is None or _connection[0] != url:
        _drop()
        _connection = (url, current_app.connection_for_write(transport_options={"max_retries": 0}))
    return _connection[1]


def _drop() -> None:
    global _connection
    if _connection is not None:
        try:
            _connection[1].release()
        except Exception:  # closing a broken connection may fail too; it is dropped anyway
            logger.debug("closing the broker connection failed", exc_info=True)
    _connection = None


def send(task: Task[..., Any], calls: Sequence[tuple[Any, ...]]) -> int:
    """Send ``task`` once per argument tuple in ``calls``; returns how many were sent."""
    global _down_until
    if time.monotonic() < _down_until:
        return 0
    sent = 0
    with _lock:
        try:
            # ``connection`` is an option of apply_async the type stubs do not list.
            options: dict[str, Any] = {"connection": _connection_now(), "retry": False}
            for args in calls:
                task.apply_async(args, **options)
                sent += 1
        except Exception:  # the broker is unreachable: the periodic relay catches up
            _drop()
            _down_until = time.monotonic() + PAUSE
            logger.warning(
                "%s: %d of %d not sent; the periodic relay resends",
                task.name,
                len(calls) - sent,
                len(calls),
            )
    return sent
