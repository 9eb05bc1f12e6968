"""What a log line is about: the request id and, inside a Celery task, the task's id and name.

Context variables, so each thread (gunicorn gthread workers, test threads) and each task has its
own. The request id comes from a sane incoming ``X-Request-ID`` header or is generated; it
travels to the tasks a request enqueues in the message headers (``task_signals``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
task_name: ContextVar[str | None] = ContextVar("task_name", default=None)

# What we accept from a client or a proxy: ids such as UUIDs, ULIDs, or a proxy's hex ids.
# Anything else (too long, spaces, quotes, control characters) is replaced by a new id, so a
# client cannot forge log lines or blow up their size through it.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")


def sane_request_id(candidate: str | None) -> str:
    """``candidate`` when it is a sane id, else a new one (32 hex digits)."""
    if candidate and _SANE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id.get()


@contextmanager
def request_id_scope(value: str | None) -> Iterator[None]:
    """Log lines and enqueued tasks within the block carry ``value`` as their request id
    (for work started outside a request, e.g. an outbox relay replaying what a request wrote)."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)
