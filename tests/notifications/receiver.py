"""A real local webhook receiver for tests: ``http.server`` in a thread, recording every request
and answering 500 to the first ``fail_first`` of them (then 200)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    # When set, requests wait for ``release`` before answering (a worker killed mid-request).
    hold: threading.Event | None = None
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        _host, port = self.server.server_address[:2]
        return f"http://127.0.0.1:{port}/hooks"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if r.status == 200]


def start(receiver: Receiver) -> Receiver:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.hold is not None and not receiver.hold.is_set():
                receiver.hold.set()  # tell the test the request arrived, then hang
                receiver.release.wait(30)
            with lock:
                status = 500 if len(receiver.requests) < receiver.fail_first else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received(headers, body, status))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, format: str, *args: object) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def stop(receiver: Receiver) -> None:
    receiver.release.set()
    if receiver.server is not None:
        receiver.server.shutdown()
        receiver.server.server_close()
