"""One hub per streaming process: the auctions that have open streams here, each with one
shared feed of messages, kept current from the database.

- ONE Redis pub/sub subscription per process (a pattern over every auction's channel) tells
  the hub which auction changed (``bidding.stream.publish``); the hub then reads what is new
  from the auction's audit stream once, for all of its clients here, and wakes them.
- A poll re-reads every watched auction every ``STREAM_POLL_SECONDS``, so a lost publish (a
  Redis blip, a process that crashed after its commit) only delays a message, never loses it.
- A heartbeat every ``STREAM_HEARTBEAT_SECONDS`` wakes every client to send a comment line.

A client costs the hub no queue and no timer of its own: each waits on its auction's shared
``asyncio.Event`` and copies the messages after the last id it sent from the shared feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from bidding.stream.access import Batch, Opened, stream_read
from bidding.stream.events import Message, Terms

logger = logging.getLogger(__name__)

# Messages each feed keeps for its clients; a client further behind reads the database.
RECENT = 256


class Feed:
    """One auction's messages in this process: every message with a sequence in
    (``base``, ``head``] is in ``recent``."""

    __slots__ = (
        "auction_id",
        "base",
        "clients",
        "dirty",
        "ends_at",
        "head",
        "recent",
        "refreshing",
        "terms",
        "version",
        "wake",
    )

    def __init__(self, opened: Opened) -> None:
        self.auction_id = opened.auction_id
        self.terms: Terms = opened.terms
        self.ends_at = opened.batch.ends_at
        self.head = self.base = opened.batch.head
        self.recent: deque[Message] = deque(maxlen=RECENT)
        self.wake = asyncio.Event()
        self.version = 0  # bumped on every wake: a client that saw it need not wait
        self.clients = 0
        self.dirty = self.refreshing = False

    def add(self, batch: Batch) -> None:
        fresh = [m for m in batch.messages if m.sequence > self.head]
        for message in fresh:
            if len(self.recent) == RECENT:
                self.base = self.recent[0].sequence
            self.recent.append(message)
        if batch.head > self.head:
            self.head, self.ends_at = batch.head, batch.ends_at
        if fresh:
            self.notify()

    def notify(self) -> None:
        self.version += 1
        self.wake.set()
        self.wake.clear()

    def since(self, after: int) -> list[Message] | None:
        """The messages after sequence ``after``; None when some have left ``recent``."""
        if after < self.base:
            return None
        found = []
        for message in reversed(self.recent):
            if message.sequence <= after:
                break
            found.append(message)
        found.reverse()
        return found


class Hub:
    """The process's feeds and the tasks that keep them current (started with the first
    client)."""

    def __init__(self) -> None:
        self.feeds: dict[int, Feed] = {}
        self.beat = 0
        self.closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    # ----------------------------------------------------------------- clients

    def attach(self, opened: Opened) -> Feed:
        """The auction's feed, created at the client's position when it is the first here."""
        self._start()
        feed = self.feeds.get(opened.auction_id)
        if feed is None:
            feed = self.feeds[opened.auction_id] = Feed(opened)
            self.refresh(feed)  # whatever committed since the client's read
        feed.clients += 1
        return feed

    def detach(self, feed: Feed) -> None:
        feed.clients -= 1
        if feed.clients <= 0 and self.feeds.get(feed.auction_id) is feed:
            del self.feeds[feed.auction_id]

    # ----------------------------------------------------------------- keeping feeds current

    def refresh(self, feed: Feed) -> None:
        """Read the feed's new messages soon: one read at a time per feed; a change that comes
        during a read makes one more read."""
        if feed.refreshing:
            feed.dirty = True
            return
        feed.refreshing = True
        self._spawn(self._refresh(feed))

    async def _refresh(self, feed: Feed) -> None:
        try:
            while True:
                feed.dirty = False
                read = await sync_to_async(stream_read, thread_sensitive=False)(
                    feed.auction_id, after=feed.head, known=(feed.terms, feed.ends_at)
                )
                feed.add(read.batch)
                if not feed.dirty:
                    break
        except Exception:
            logger.exception("stream: reading auction %s failed; the poll retries", feed.auction_id)
        finally:
            feed.refreshing = False

    def refresh_all(self) -> None:
        for feed in list(self.feeds.values()):
            self.refresh(feed)

    def changed(self, channel: bytes | str) -> None:
        """A message on ``<prefix><auction id>``: that auction's stream has new events."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        suffix = name.removeprefix(settings.STREAM_CHANNEL_PREFIX)
        feed = self.feeds.get(int(suffix)) if suffix.isdigit() else None
        if feed is not None:
            self.refresh(feed)

    # ----------------------------------------------------------------- background tasks

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._spawn(self._listen())
        self._spawn(self._every(settings.STREAM_POLL_SECONDS, self.refresh_all))
        self._spawn(self._every(settings.STREAM_HEARTBEAT_SECONDS, self._heartbeat))

    async def _every(self, seconds: float, action: Any) -> None:
        while not self.closing:
            await asyncio.sleep(seconds)
            action()

    def _heartbeat(self) -> None:
        self.beat += 1
        for feed in list(self.feeds.values()):
            feed.notify()

    async def _listen(self) -> None:
        """Subscribe once for the whole process; on any failure, subscribe again after a pause
        (the poll covers the gap) and re-read every feed (publishes may have been missed)."""
        pause = 0.5
        while not self.closing:
            client = aioredis.Redis.from_url(settings.REDIS_URL)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{settings.STREAM_CHANNEL_PREFIX}*")
                self.refresh_all()
                pause = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self.changed(message["channel"])
            except (RedisError, OSError) as exc:
                logger.warning("stream: Redis subscription lost (%s); retrying", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)

    async def close(self) -> None:
        """Stop the background tasks and end every open stream (process shutdown)."""
        self.closing = True
        for feed in list(self.feeds.values()):
            feed.notify()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop (one per process; tests may run several loops)."""
    loop = asyncio.get_running_loop()
    key = id(loop)
    found = _hubs.get(key)
    if found is None or found.closing:
        found = _hubs[key] = Hub()
    return found
