"""One webhook POST to an address checked by ``notifications.ssrf``: the connection goes to that
address (TLS still verifies the URL's host name), redirects are not followed, and the whole
exchange is bounded by a timeout."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from notifications.ssrf import Target

# Enough of a receiver's answer to show in ``last_error``.
ERROR_BODY_BYTES = 500


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, TLS error)
    latency_ms: int
    error: str  # "" on a 2xx answer


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``target``; a 2xx answer is a success."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout)
    else:
        connection = _PinnedHTTPConnection(target, timeout)
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": "npl-marketplace-webhooks/1",
            },
        )
        response = connection.getresponse()
        text = response.read(ERROR_BODY_BYTES).decode("utf-8", errors="replace")
        latency = int((time.monotonic() - started) * 1000)
        if 200 <= response.status < 300:
            return Answer(response.status, latency, "")
        return Answer(response.status, latency, f"HTTP {response.status}: {text}".strip())
    except (OSError, http.client.HTTPException) as exc:
        latency = int((time.monotonic() - started) * 1000)
        return Answer(None, latency, f"{type(exc).__name__}: {exc}"[:ERROR_BODY_BYTES])
    finally:
        connection.close()
