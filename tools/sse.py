"""A small Server-Sent Events client (the demo's and the tests' reader of the live stream).

    with SSEStream.open(url, token=..., last_event_id=...) as stream:
        for message in stream:             # blocks; socket timeout -> TimeoutError
            print(message.id, message.event, message.json())

Parses the format of the HTML standard ("event stream interpretation"): ``id:``, ``event:``,
``data:`` (several joined by newlines), ``retry:`` and comment lines, each message ended by a
blank line. Comments come out as messages whose ``event`` is ``"comment"``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ServerEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class StreamRefused(Exception):
    """The server answered with something other than an event stream."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(f"{status}: {body[:200]!r}")
        self.status = status
        self.body = body
        self.content_type = content_type


class SSEStream:
    def __init__(self, connection: http.client.HTTPConnection, response: Any) -> None:
        self.connection = connection
        self.response = response

    @classmethod
    def open(
        cls, url: str, *, token: str | None, last_event_id: str | None = None, timeout: float = 10
    ) -> SSEStream:
        """Connect; raises ``StreamRefused`` on any answer but 200 ``text/event-stream``."""
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        connection.request("GET", parts.path, headers=headers)
        response = connection.getresponse()
        content_type = response.getheader("Content-Type", "")
        if response.status != 200 or not content_type.startswith("text/event-stream"):
            body = response.read()
            connection.close()
            raise StreamRefused(response.status, body, content_type)
        return cls(connection, response)

    def __enter__(self) -> SSEStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def __iter__(self) -> Iterator[ServerEvent]:
        """The messages until the server ends the stream."""
        fields: dict[str, list[str]] = {}
        while True:
            raw = self.response.readline()  # decodes the chunked framing
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith(":"):
                yield ServerEvent(None, "comment", line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
            elif "data" in fields:
                ids = fields.get("id")
                events = fields.get("event", ["message"])
                yield ServerEvent(ids[-1] if ids else None, events[-1], "\n".join(fields["data"]))
                fields = {}
            else:
                fields = {}  # e.g. a lone ``retry:``
