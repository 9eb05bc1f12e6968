"""The ASGI application of ``GET /api/v1/auctions/{id}/stream/`` (Server-Sent Events).

``with_stream(django_app)`` (``marketplace/asgi.py``) answers that one path itself and hands
every other request to Django, so the ASGI process (uvicorn) serves the whole API and the
stream. An open stream is one coroutine waiting on its auction's shared feed
(``bidding.stream.hub``): no thread, no queue, no timer, no other task of its own; a client
that went is noticed at the next heartbeat. Database work (authentication, visibility, what a
reconnecting client missed) runs in worker threads when the client connects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from rest_framework.exceptions import APIException, MethodNotAllowed

from bidding.stream.access import Opened, last_event_id, stream_open, stream_read
from bidding.stream.events import HEARTBEAT, Message
from bidding.stream.hub import Feed, hub
from marketplace.common.codes import ErrorCode
from marketplace.common.errors import DomainError, exception_handler

logger = logging.getLogger(__name__)

# As Django's ASGIHandler types them.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAM_PATH = re.compile(r"^/api/v1/auctions/(\d{1,20})/stream/$")
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    # Proxies (nginx) must pass each message on at once, not buffer the response.
    (b"x-accel-buffering", b"no"),
]


def with_stream(django_app: ASGIApp) -> ASGIApp:
    """``django_app`` with the stream path answered here, and the ASGI lifespan handled (the
    hub's tasks stop and open streams end at shutdown)."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        match = STREAM_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await django_app(scope, receive, send)
            return
        await stream(scope, receive, send, auction_id=int(match.group(1)))

    return application


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await hub().close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _problem(send: Send, exc: Exception) -> None:
    """The API's problem+json answer for ``exc`` (the same handler as every DRF view)."""
    if isinstance(exc, APIException) and exc.status_code == 401:
        exc.auth_header = "Token"  # type: ignore[attr-defined]  # as DRF's views set it
    response = exception_handler(exc, {})
    assert response is not None  # APIException and DomainError always get an answer
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def stream(scope: Scope, receive: Receive, send: Send, *, auction_id: int) -> None:
    """One client's stream: check and replay, then live messages until the auction ends, the
    client goes or the process stops."""
    try:
        if scope["method"] != "GET":
            raise MethodNotAllowed(scope["method"])
        opened = await sync_to_async(stream_open, thread_sensitive=False)(
            authorization=_header(scope, b"authorization") or "",
            auction_id=auction_id,
            last_seen=last_event_id(_header(scope, b"last-event-id")),
        )
    except (APIException, DomainError) as exc:
        await _problem(send, exc)
        return
    except DatabaseError:
        logger.exception("stream: the database failed while opening a stream")
        await _problem(send, DomainError(code=ErrorCode.SERVICE_UNAVAILABLE, status_code=503))
        return
    if opened.ended:
        # The client has the final message: 204 tells an EventSource to stop reconnecting.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await _live(opened, receive, send)


async def _live(opened: Opened, receive: Receive, send: Send) -> None:
    """Send the replay, then follow the feed until the stream ends or the client goes."""
    await receive()  # the (empty) request body
    the_hub = hub()
    feed = the_hub.attach(opened)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        retry = f"retry: {settings.STREAM_RETRY_MILLISECONDS}\n\n".encode()
        await _follow(opened, feed, receive, send, first=retry)
    finally:
        the_hub.detach(feed)


async def _gone(receive: Receive) -> bool:
    """Whether the client has disconnected. The request has no body, so ``receive`` returns only
    at a disconnect (at once, if it has happened): give it one turn of the event loop. Checked
    at each heartbeat, so a stream costs no waiting task of its own for it."""
    probe = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    if probe.done():
        return True
    probe.cancel()
    return False


async def _follow(
    opened: Opened, feed: Feed, receive: Receive, send: Send, *, first: bytes
) -> None:
    the_hub = hub()
    last, beat, seen = opened.batch.head, the_hub.beat, feed.version
    chunk, final = _chunk(opened.batch.messages, insider=opened.insider, prefix=first)
    while True:
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": not final})
        if final or the_hub.closing:
            if not final:
                await send({"type": "http.response.body", "body": b""})
            return
        if feed.version == seen:
            await feed.wake.wait()
        seen = feed.version
        pending = feed.since(last)
        if pending is None:  # fell behind the feed's memory: read what it missed
            read = await sync_to_async(stream_read, thread_sensitive=False)(
                opened.auction_id, after=last
            )
            pending = read.batch.messages
        prefix = b""
        if the_hub.beat != beat:
            if await _gone(receive):
                return
            prefix, beat = HEARTBEAT, the_hub.beat
        if pending:
            last = pending[-1].sequence
        chunk, final = _chunk(pending, insider=opened.insider, prefix=prefix)


def _chunk(messages: list[Message], *, insider: bool, prefix: bytes = b"") -> tuple[bytes, bool]:
    """The bytes of ``messages`` for this viewer, and whether the stream ends with them."""
    parts = [prefix]
    for message in messages:
        body = message.for_viewer(insider=insider)
        if body is not None:
            parts.append(body)
        if message.final:
            return b"".join(parts), True
    return b"".join(parts), False
