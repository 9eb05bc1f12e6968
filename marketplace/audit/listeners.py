"""Listeners of audit events: code that must run in the same transaction as the change an event
records (the outbox of domain events in ``notifications`` is one).

Audit knows no listener by name: an app registers one at start-up (``AppConfig.ready``) with
:func:`listen`. ``event_append`` (and so ``record``) calls every listener with the event it
prepared, inside the caller's transaction, before the event is written: a listener's writes
commit or roll back with the change, and a listener that raises aborts the change. A listener
returns quickly for actions it does not care about; it must not do network I/O.

A listener on a hot path may instead return its write as SQL (:class:`SqlWrite`: one
data-modifying statement, e.g. ``INSERT ... SELECT``), which the append runs in the same
statement as the event (as a ``WITH`` part), so the path costs no extra round trip; ``record``
runs it just before the event's insert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marketplace.audit.models import AuditEvent


@dataclass(frozen=True)
class SqlWrite:
    """One data-modifying statement with its parameters, valid alone and as a ``WITH`` part."""

    sql: str
    params: list[Any]


Listener = Callable[["AuditEvent"], SqlWrite | None]

_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    """Call ``listener`` for every audit event appended from now on (once, however often
    registered)."""
    if listener not in _listeners:
        _listeners.append(listener)


def unlisten(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify(event: AuditEvent) -> tuple[SqlWrite, ...]:
    """Run every listener on ``event`` (prepared by ``event_append``, not yet written); returns
    the writes they left to run with the event's insert."""
    writes = (listener(event) for listener in tuple(_listeners))
    return tuple(write for write in writes if write is not None)
