"""The outbox: events written in the transaction of the change they report, relayed later.

``outbox_on_audit_event`` is registered with ``marketplace.audit.listeners`` (see ``apps.py``):
for every audited action users care about it writes one :class:`Event` per recipient
organisation (``notifications.fanout``) in the change's own transaction. A change that rolls
back takes its events with it, so nothing is ever sent for it; a change that commits has its
events on disk, whatever happens to the broker or the workers afterwards. After the commit the
relay task is kicked (best effort: a lost kick only waits for the relay's periodic run).
"""

from __future__ import annotations

import datetime as dt
import time

from django.db import connection, transaction

from marketplace.audit.listeners import SqlWrite
from marketplace.audit.models import AuditEvent
from notifications import kick
from notifications.catalog import EventType
from notifications.fanout import Notice, notices_for
from notifications.fanout.bids import bid_placed_write
from notifications.models import Event

BID_PLACED = str(EventType.BID_PLACED)


def outbox_on_audit_event(event: AuditEvent) -> SqlWrite | None:
    """Write the events of ``event`` (nothing for actions nobody is told about). A bid's events
    are returned as SQL for the bid path to run in its own write statement."""
    if event.action == BID_PLACED:
        kick_relay_on_commit()
        return bid_placed_write(event)
    notices = notices_for(event)
    if notices:
        events_write(notices, created_at=event.occurred_at)
    return None


def events_write(notices: list[Notice], *, created_at: dt.datetime) -> list[Event]:
    """Insert one event per notice in the caller's transaction (one statement) and kick the
    relay after the commit. A notice whose ``dedup_key`` was written before is skipped."""
    rows = [
        Event(
            type=str(n.type),
            organization_id=n.organization_id,
            data=n.data,
            dedup_key=n.dedup_key or "",
            created_at=created_at,
        )
        for n in notices
    ]
    written = Event.objects.bulk_create(rows, ignore_conflicts=any(n.dedup_key for n in notices))
    kick_relay_on_commit()
    return written


def kick_relay_on_commit() -> None:
    """Send the relay task once after the current transaction commits."""
    if any(entry[1] is _kick_relay for entry in connection.run_on_commit):
        return
    transaction.on_commit(_kick_relay)


# A send costs a few milliseconds; under a stream of commits (bids) one per interval per process
# is enough: a relay takes every pending event, and beat's relay runs every few seconds anyway.
KICK_INTERVAL = 0.2
_last_kick = 0.0


def _kick_relay() -> None:
    global _last_kick
    from notifications.tasks import relay

    now = time.monotonic()
    if now - _last_kick < KICK_INTERVAL:
        return
    _last_kick = now
    # With the broker down the request does not wait: the periodic relay sends the events.
    kick.send(relay, [()])
