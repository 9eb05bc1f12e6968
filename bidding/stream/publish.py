"""Telling the streaming processes that an auction's stream has new events.

After the commit of a change that the stream shows (a bid, with its extension; a close; a
cancel), one empty message on the auction's Redis channel wakes every streaming process that
has clients of that auction; each reads what is new from the database itself (the message
carries no data, so it can never disagree with the audit log). A publish that fails (Redis
down) is logged and dropped: the processes' poll finds the change a moment later.
"""

from __future__ import annotations

import logging
from functools import cache, partial

import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


@cache
def _client() -> redis.Redis:
    # Short timeouts: this runs after the commit, on the request's time, and the poll covers a
    # publish that did not get through.
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.STREAM_PUBLISH_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.STREAM_PUBLISH_TIMEOUT_SECONDS,
    )


def auction_stream_changed(auction_id: int) -> None:
    """Wake the streams of the auction once the current transaction commits (nothing on a
    rollback: a change that did not happen is never announced)."""
    transaction.on_commit(partial(_publish, auction_id))


def _publish(auction_id: int) -> None:
    try:
        _client().publish(f"{settings.STREAM_CHANNEL_PREFIX}{auction_id}", b"")
    except (redis.RedisError, OSError) as exc:
        logger.warning("stream: publish for auction %s failed (%s); polled", auction_id, exc)
