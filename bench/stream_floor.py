"""The floor of an open stream under uvicorn, for ``bench/stream.py --floor``: an ASGI app that
answers any GET with an event stream and then only waits (one coroutine per stream on a shared
event, as the real stream does), so that what it costs per connection is uvicorn's own."""

from __future__ import annotations

import asyncio

_event: asyncio.Event | None = None


async def app(scope, receive, send) -> None:
    global _event
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/healthz":
        await send({"type": "http.response.body", "body": b"ok"})
        return
    await send({"type": "http.response.body", "body": b": hi\n\n", "more_body": True})
    _event = _event or asyncio.Event()
    await _event.wait()
