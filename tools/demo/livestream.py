"""The demo's live-stream watcher: an SSE client in a thread that follows one auction's stream
(``tools.sse``) from its opening to its close, and prints what it received."""

from __future__ import annotations

import os
import threading
import time

from tools.demo.client import Client, show, step
from tools.sse import ServerEvent, SSEStream


class StreamWatcher:
    """Follows ``/api/v1/auctions/{id}/stream/`` on the stream server (``STREAM_URL``, as
    ``make run`` prints it; the API's base URL when unset) as ``client``."""

    def __init__(self, client: Client, auction_id: int) -> None:
        base = os.environ.get("STREAM_URL") or client.base_url
        self.url = f"{base.rstrip('/')}/api/v1/auctions/{auction_id}/stream/"
        self.client = client
        self.received: list[tuple[float, ServerEvent]] = []
        self.error: Exception | None = None
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            with SSEStream.open(self.url, token=self.client.token, timeout=90) as stream:
                for message in stream:
                    self.received.append((time.monotonic() - self.started, message))
        except Exception as exc:
            self.error = exc

    def report(self) -> None:
        """Wait for the stream's end (its ``closed`` message) and print every message."""
        self._thread.join(timeout=15)
        step(f"What the live stream (SSE) told {self.client.username} during the sale")
        show(self.url)
        for at, message in self.received:
            if message.event == "comment":
                continue
            show(f"  +{at:5.1f}s id {message.id:>3} {message.event:<8} {message.data}")
        beats = sum(1 for _, m in self.received if m.event == "comment")
        show(f"  ({beats} heartbeat comments)" + (f"; error: {self.error!r}" if self.error else ""))
