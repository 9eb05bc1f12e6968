"""The demo's webhook receiver: a local ``http.server`` that verifies each delivery's Standard
Webhooks signature (as docs/INTEGRATION.md shows, standard library only), and a report of what
each registered organisation received during the sale."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.demo.client import Client, step

EVENT_TYPES = [
    *("auction.created", "auction.opened", "auction.extended", "auction.closed"),
    *("auction.cancelled", "auction.won", "auction.lost", "bid.placed", "bid.outbid"),
    *("registration.created", "deposit.confirmed", "deposit.released", "deposit.applied"),
    *("deposit.forfeited", "settlement.created", "settlement.due_soon", "settlement.paid"),
    *("settlement.defaulted", "settlement.runner_up_offered", "loans.transferred"),
    *("seller.paid_out", "package.submitted", "package.approved", "package.rejected"),
    *("package.withdrawn", "loan_tape.imported", "loan_tape.failed", "webhook.disabled"),
]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check: any ``v1`` signature of ``id.timestamp.body`` matches, and
    the timestamp is within 5 minutes."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    signatures = headers.get("webhook-signature", "").split(" ")
    return any(
        hmac.compare_digest(expected, s.split(",", 1)[1]) for s in signatures if s.startswith("v1,")
    )


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    received: dict[str, Counter[str]] = field(default_factory=dict)
    invalid: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def accept(self, path: str, headers: dict[str, str], body: bytes) -> int:
        secret = self.secrets.get(path)
        with self.lock:
            if secret is None or not verify(secret, headers, body):
                self.invalid[path] += 1
                return 400
            self.received.setdefault(path, Counter())[json.loads(body)["type"]] += 1
        return 204


def start() -> Receiver:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.send_response(receiver.accept(self.path, headers, body))
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def register(receiver: Receiver, client: Client, label: str) -> None:
    """A webhook endpoint of ``client``'s organisation, delivering to ``/<label>``."""
    assert receiver.server is not None
    port = receiver.server.server_address[1]
    _, hook = client.request(
        "POST",
        "/api/v1/webhooks/",
        {"url": f"http://127.0.0.1:{port}/{label}", "event_types": EVENT_TYPES},
    )
    receiver.secrets[f"/{label}"] = hook["secret"]
    step(f"webhook endpoint {hook['id']} of the {label}: {hook['url']}")


def report(receiver: Receiver, *, settle_seconds: float = 6.0) -> None:
    """Wait for the last deliveries, then print what each receiver got; stop the server."""
    time.sleep(settle_seconds)
    print("\nWebhooks received (signatures verified):", flush=True)
    for path in sorted(receiver.secrets):
        counts = receiver.received.get(path, Counter())
        total = sum(counts.values())
        print(f"  {path[1:]}: {total} events, {receiver.invalid[path]} refused", flush=True)
        for event_type, count in sorted(counts.items()):
            print(f"    {event_type:<32} {count}", flush=True)
    if receiver.server is not None:
        receiver.server.shutdown()
        receiver.server.server_close()
