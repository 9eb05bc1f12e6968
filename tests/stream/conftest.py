"""The live stream's tests run a real uvicorn process (``marketplace.asgi:application``) on the
test database and the real Redis; the test process places bids through the API, whose commits
publish to Redis exactly as gunicorn's would. Tests are transactional (``transaction=True``):
the server only sees what the test commits.

Short intervals make the tests quick: a heartbeat every 0.5 s, and a poll every 30 s, so that a
message arriving within a second came through Redis pub/sub, not the poll (except for the
server of the poll test, which hears nothing from Redis and polls every 0.3 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.bidding.conftest import make_auction, register
from tests.factories import make_bidder
from tests.support import client_for
from tools.ports import free_port
from tools.sse import SSEStream

BASE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class StreamServer:
    base_url: str
    process: subprocess.Popen[bytes]

    def url(self, auction_id: int) -> str:
        return f"{self.base_url}/api/v1/auctions/{auction_id}/stream/"

    def open(
        self, auction_id: int, token: str | None, *, last_event_id: str | None = None
    ) -> SSEStream:
        return SSEStream.open(self.url(auction_id), token=token, last_event_id=last_event_id)

    def rss(self) -> int:
        with open(f"/proc/{self.process.pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _database_url() -> str:
    """The test database, as the server process must reach it."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_server(**overrides: str) -> StreamServer:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MARKETPLACE_QUIET": "1",
        "STREAM_HEARTBEAT_SECONDS": "0.5",
        "STREAM_POLL_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }
    command = [
        *(sys.executable, "-m", "uvicorn", "marketplace.asgi:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
        *("--lifespan", "on", "--timeout-graceful-shutdown", "1", "--no-access-log"),
    ]
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2):  # noqa: S310
                return StreamServer(base_url, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def stop_server(server: StreamServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def _stream_channel() -> str:
    """A channel prefix of this test session's own (several runs may share one Redis)."""
    return f"test-stream-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def stream_channel(settings, _stream_channel):
    settings.STREAM_CHANNEL_PREFIX = _stream_channel
    return _stream_channel


@pytest.fixture(scope="session")
def _session_server(django_db_setup, django_db_blocker, _stream_channel) -> Iterator[StreamServer]:
    """One server for the session (it keeps no state between tests: each test's auction is new)."""
    server = start_server(STREAM_CHANNEL_PREFIX=_stream_channel)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def stream_server(transactional_db, stream_channel, _session_server) -> StreamServer:
    return _session_server


def token_of(client) -> str:
    return str(client._credentials["HTTP_AUTHORIZATION"]).removeprefix("Token ")


@dataclass
class Sale:
    """An open English auction with two confirmed bidders and the seller, each with a token."""

    auction_id: int
    seller: object
    alice: object  # bidder clients (APIClient)
    bob: object
    outsider: object  # an approved buyer, not registered

    def bid(self, client, amount: str) -> dict:
        response = client.post(
            f"/api/v1/auctions/{self.auction_id}/bids/", {"amount": amount}, format="json"
        )
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def make_sale(seller_user, compliance_user) -> Callable[..., Sale]:
    def make(**terms) -> Sale:
        auction = make_auction(seller_user, **terms)
        alice, bob, outsider = make_bidder(), make_bidder(), make_bidder()
        for user in (alice, bob):
            register(user, auction, confirmed_by=compliance_user)
        return Sale(
            auction.pk,
            client_for(seller_user),
            client_for(alice),
            client_for(bob),
            client_for(outsider),
        )

    return make
