"""Publishing outbox rows: the on-commit kick (``publish_ids``) and the relay (``relay``).

A row is locked (``FOR UPDATE SKIP LOCKED``) while it is published and marked sent in the same
transaction: two relays never publish the same row at once, and a relay that dies before its
commit leaves the row unsent, to be published again (at least once; tasks are idempotent).
Only publishers lock these rows and they skip locked ones, so holding the lock across the
broker call makes nobody wait.

The broker is probed with a client that does not retry before publishing: Celery's publish
path retries a refused connection for several seconds, which must not happen in a request
(the kick) or once per row (the relay). After a failure the broker is deemed down for
``OUTBOX_BROKER_BACKOFF_SECONDS`` and kicks skip it at no cost.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

import kombu.exceptions
import redis
import redis.exceptions
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from marketplace.observability.context import request_id_scope
from marketplace.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

# Errors that mean "the broker is not reachable": stop and leave the rest to a later relay.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


class _Broker:
    """Whether the broker answers, remembered for a short while after a failure."""

    def __init__(self) -> None:
        self.down_until = 0.0

    def reachable(self) -> bool:
        if time.monotonic() < self.down_until:
            return False
        url = str(settings.CELERY_BROKER_URL)
        if not url.startswith(("redis://", "rediss://")):
            return True  # no cheap probe for other transports; publishing will tell
        try:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
            )
            try:
                client.ping()
            finally:
                client.close()
        except BROKER_ERRORS as exc:
            self.mark_down(exc)
            return False
        return True

    def mark_down(self, exc: BaseException) -> None:
        self.down_until = time.monotonic() + settings.OUTBOX_BROKER_BACKOFF_SECONDS
        logger.warning("outbox: broker unreachable (%s); messages wait in the outbox", exc)


broker = _Broker()


def _publish(message: OutboxMessage) -> None:
    # retry=False: a failure is handled here (the row stays unsent), not by blocking retries.
    # The request id is the enqueuer's, not the relay's: the task's logs join its request's.
    with request_id_scope(message.request_id or None):
        current_app.send_task(
            message.task,
            args=message.args,
            kwargs=message.kwargs,
            eta=message.eta,
            task_id=str(message.task_id),
            retry=False,
        )


def _publish_locked(rows: Sequence[OutboxMessage]) -> int:
    """Publish locked rows in order, mark those published as sent; stop at a broker error."""
    published: list[int] = []
    for row in rows:
        try:
            _publish(row)
        except BROKER_ERRORS as exc:
            broker.mark_down(exc)
            _note_failure(row, exc)
            break
        except Exception as exc:  # a bad message must not block the ones behind it
            logger.exception("outbox: message %s (%s) could not be published", row.pk, row.task)
            _note_failure(row, exc)
            continue
        published.append(row.pk)
    OutboxMessage.objects.filter(pk__in=published).update(sent_at=timezone.now())
    return len(published)


def _note_failure(row: OutboxMessage, exc: BaseException) -> None:
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:500]
    )


def _unsent() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.select_for_update(skip_locked=True).filter(sent_at__isnull=True)


def publish_ids(message_ids: Sequence[int]) -> int:
    """Publish these messages if unsent and not held by a relay; how many were published."""
    if not broker.reachable():
        return 0
    with transaction.atomic():
        rows = list(_unsent().filter(pk__in=message_ids).order_by("id"))
        return _publish_locked(rows)


def relay(*, batch: int = 200) -> int:
    """Publish every unsent message, oldest first, in batches; how many were published.
    Returns early (the rest waits for the next run) when the broker is unreachable."""
    total = 0
    while broker.reachable():
        with transaction.atomic():
            rows = list(_unsent().order_by("id")[:batch])
            published = _publish_locked(rows)
        total += published
        if len(rows) < batch or published < len(rows):
            break
    return total


def outbox_lag_seconds() -> float:
    """Age of the oldest unsent message in seconds (0.0 when none waits): how far behind the
    broker the outbox is. For the metrics and ``/readyz``."""
    oldest = (
        OutboxMessage.objects.filter(sent_at__isnull=True)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None:
        return 0.0
    return max(0.0, (timezone.now() - oldest).total_seconds())


def purge_sent(*, older_than: dt.timedelta) -> int:
    """Delete messages sent longer ago than ``older_than``; how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=cutoff).delete()
    return deleted
