"""Enqueue a Celery task in the caller's transaction (the outbox row commits with the change
that wants it), and publish it right after commit when the broker answers.

    from marketplace.outbox import services as outbox

    with transaction.atomic():
        ...  # the state change
        outbox.enqueue("settlement.auction_close", auction.pk, eta=auction.ends_at)

``transaction.on_commit(lambda: task.delay(...))`` loses the message when the broker is down
at commit time (or the process dies between commit and send); a row cannot be lost: it is
published by the on-commit kick, or else by the relay (``relay.relay``: beat every second, and
``manage.py outbox_relay``) once the broker is back. Delivery is at least once, so the tasks
sent this way are idempotent (they lock and re-check state).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from marketplace.common.atomic import require_atomic
from marketplace.observability.context import current_request_id
from marketplace.outbox import relay
from marketplace.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)


def enqueue(
    task: str,
    *args: Any,
    eta: dt.datetime | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> OutboxMessage:
    """Write the message ``task(*args, **kwargs)`` (run at ``eta``, else at once) in the current
    transaction; it is published after commit, or by the relay if the broker is down then.

    Arguments must be JSON values (ids, not objects). Refuses to run outside a transaction: the
    row must commit or roll back with the change that wants the task."""
    require_atomic("outbox.enqueue")
    message = OutboxMessage.objects.create(
        task=task,
        args=list(args),
        kwargs=dict(kwargs or {}),
        eta=eta,
        request_id=current_request_id() or "",
    )
    transaction.on_commit(lambda: kick(message.pk), robust=True)
    return message


def kick(message_id: int) -> bool:
    """Best effort, after commit: publish this one message now. False when it was left to the
    relay (broker down, or a relay holds the row); never raises into the caller's request."""
    try:
        return relay.publish_ids([message_id]) == 1
    except Exception:
        logger.warning("outbox: message %s left to the relay", message_id, exc_info=True)
        return False
