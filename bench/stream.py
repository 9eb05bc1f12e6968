"""Live stream benchmark: thousands of SSE clients on one auction while bids arrive.

    .venv/bin/python bench/stream.py [--clients 2000] [--bids 40] [--rate 5] [--keep]
    make bench-stream

One run, against the database and Redis of the settings (embedded ones if DATABASE_URL /
REDIS_URL are unset):

1. fixtures through the services (names carry a UTC timestamp): a bank and its officer, an
   approved package, an English auction on it (opens now, ends in 2 h, no soft close, deposit 0)
   and two approved buyers registered on it;
2. the stream server as ``make run`` starts it (uvicorn, ``marketplace.asgi:application``,
   uvloop + httptools, one process) on a free port; output in ``var/log/bench-stream.log``;
3. a client process (uvloop, one asyncio protocol per client, as one of the bidders: it sees
   prices; each arrival timed in ``data_received``, before any parsing) opens 100 streams and
   closes them (warm-up), then the server's RSS is read
   (the baseline); it opens ``--clients`` streams, all receiving, and the RSS is read again:
   memory per open stream = (RSS with the streams open - baseline) / clients;
4. this process places ``--bids`` bids at ``--rate`` per second through ``bid_place`` (the two
   bidders in turn), noting the time of each commit (an ``on_commit`` callback registered
   before the bid's own, so it runs first); each client notes when each ``price`` message
   arrives. Delay = arrival - commit, over every (client, bid); a message a client never got
   counts as missing. The clock is the machine's (all processes on one host);
5. clean-up: the client process and the server are stopped; the auction is cancelled through
   ``auction_cancel`` (its package back to approved) unless ``--keep``.

Targets (issue 12): p99 delay < 500 ms, no message missing, < 2 KB of server memory per open
stream. PASS/FAIL is computed from this run's measurements.

``--floor`` measures the memory per open stream of uvicorn itself, with the same options and a
do-nothing streaming app (``bench/stream_floor.py``) instead of the project's: no bids.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchlib import HOST, child_env, django_start, free_port, percentile, say, verdict

PASSWORD = "bench-stream-password"  # noqa: S105 (bench users only)
TARGET_P99_MS = 500.0
TARGET_BYTES_PER_STREAM = 2048


# --------------------------------------------------------------------------- client process


_PRICE = re.compile(rb'"current_price":"([0-9.]+)"')


class _Listener(asyncio.Protocol):
    """One SSE client: notes when each price arrives (at ``data_received``, before any
    parsing), scanning the raw bytes (each message is one chunk, its JSON contiguous)."""

    def __init__(self, request: bytes, seen: dict, ready: list) -> None:
        self.request, self.seen, self.ready = request, seen, ready
        self.buffer = b""
        self.started = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.started:
            if b"\r\n\r\n" not in self.buffer:
                return
            if not self.buffer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(self.buffer[:200])
            self.started = True
            self.ready.append(1)
        end = 0
        for match in _PRICE.finditer(self.buffer):
            self.seen.setdefault(match.group(1).decode(), []).append(now)
            end = match.end()
        self.buffer = self.buffer[end:][-512:]


async def _open(count: int, port: int, path: str, token: str, seen: dict) -> list:
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Token {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    ready: list = []
    transports = []
    for i in range(count):
        transport, _ = await loop.create_connection(
            lambda: _Listener(request, seen, ready), HOST, port
        )
        transports.append(transport)
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # connect in waves, not one burst
    deadline = time.monotonic() + 300
    while len(ready) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if len(ready) < count:
        raise RuntimeError(f"only {len(ready)} of {count} streams opened")
    return transports


async def _client_main(port: int, path: str, token: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    seen: dict[str, list[float]] = {}
    for transport in await _open(100, port, path, token, {}):
        transport.close()
    await asyncio.sleep(1.0)
    print("warm", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    transports = await _open(count, port, path, token, seen)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the bids are done
    await asyncio.sleep(2.0)  # the last messages in flight
    for transport in transports:
        transport.close()
    print(json.dumps(seen), flush=True)


def client(argv: list[str]) -> None:
    port, path, token, count = int(argv[0]), argv[1], argv[2], int(argv[3])
    import uvloop

    uvloop.run(_client_main(port, path, token, count))


# --------------------------------------------------------------------------- bench process


def create_fixtures(stamp: str) -> dict:
    from django.utils import timezone

    from bidding.services.auctions import AuctionTerms, auction_create
    from bidding.services.registrations import registration_create
    from listings.models import Package
    from marketplace.accounts.services import (
        member_create,
        organization_approve,
        organization_create,
    )

    bank = organization_create(actor=None, name=f"Bench Bank (stream {stamp})", kind="bank")
    officer = member_create(
        actor=None,
        organization_id=bank.pk,
        username=f"bench-stream-{stamp}-seller",
        password=PASSWORD,
        role="disposal_officer",
    )
    package = Package.objects.create(
        seller=bank,
        created_by=officer,
        title=f"Bench stream package ({stamp})",
        currency="EUR",
        cut_off_date=dt.date(2026, 9, 30),
        status="approved",
    )
    now = timezone.now()
    terms = AuctionTerms(
        format="english",
        starts_at=now,
        ends_at=now + dt.timedelta(hours=2),
        starting_price="1000.00",
        min_increment="1.00",
        deposit_amount="0",
        soft_close_seconds=0,
    )
    auction = auction_create(actor=officer, package_id=package.pk, terms=terms)
    bidders = []
    for i in range(2):
        org = organization_create(
            actor=None, name=f"Bench Buyer {i} (stream {stamp})", kind="buyer",
            licence_type="national_amc",
        )  # fmt: skip
        organization_approve(actor=None, organization_id=org.pk, reason="bench")
        bidder = member_create(
            actor=None,
            organization_id=org.pk,
            username=f"bench-stream-{stamp}-bidder-{i}",
            password=PASSWORD,
            role="bidder",
        )
        registration_create(actor=bidder, auction_id=auction.pk, accept_nda=True)
        bidders.append(bidder)
    return {"auction": auction, "officer": officer, "bidders": bidders}


def start_stream_server(port: int, log_path: Path, *, floor: bool) -> subprocess.Popen:
    from tools.stack import _stream_command  # exactly as make run starts it

    log = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
    env = child_env("WARNING")
    command = _stream_command(port)
    if floor:
        app = command.index("marketplace.asgi:application")
        command[app : app + 1] = ["stream_floor:app", "--app-dir", str(Path(__file__).parent)]
    return subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def place_bids(auction_id: int, bidders: list, count: int, rate: float) -> dict[str, float]:
    """Bids at ``rate`` per second, alternating bidders; the commit time of each, by price."""
    from django.db import transaction

    from bidding.services.bids import bid_place

    committed: dict[str, float] = {}
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        amount = f"{1000 + i}.00"
        with transaction.atomic():
            transaction.on_commit(lambda a=amount: committed.__setitem__(a, time.time()))
            bid_place(actor=bidders[i % 2], auction_id=auction_id, amount=amount)
    return committed


def delays(committed: dict[str, float], seen: dict[str, list[float]], clients: int):
    samples: list[float] = []
    missing = 0
    for price, at in committed.items():
        arrivals = seen.get(price, [])
        missing += clients - len(arrivals)
        samples += [(t - at) * 1000 for t in arrivals]
    return samples, missing


def token_for(username: str) -> str:
    from knox.models import AuthToken

    from marketplace.accounts.models import User

    _, token = AuthToken.objects.create(User.objects.get(username=username))
    return token


def _wait_ready(port: int, proc: subprocess.Popen, log_path: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the stream server exited; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=3):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the stream server did not start; see {log_path}")


def measure(args, fixtures, log_dir: Path) -> dict:
    auction = fixtures["auction"]
    port = free_port()
    log_path = log_dir / "bench-stream.log"
    server = start_stream_server(port, log_path, floor=args.floor)
    client_proc = None
    try:
        _wait_ready(port, server, log_path)
        path = f"/api/v1/auctions/{auction.pk}/stream/"
        token = token_for(fixtures["bidders"][0].username)
        client_proc = subprocess.Popen(
            [sys.executable, __file__, "--client", str(port), path, token, str(args.clients)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client_proc.stdin and client_proc.stdout
        if client_proc.stdout.readline().strip() != "warm":
            raise RuntimeError("the client process failed during the warm-up")
        time.sleep(1.0)
        base = rss(server.pid)
        clock = time.monotonic()
        client_proc.stdin.write("go\n")
        client_proc.stdin.flush()
        if client_proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the client process failed to open its streams")
        opened_in = time.monotonic() - clock
        time.sleep(2.0)
        open_rss = rss(server.pid)
        committed = (
            {} if args.floor else place_bids(auction.pk, fixtures["bidders"], args.bids, args.rate)
        )
        after_rss = rss(server.pid)
        client_proc.stdin.write("done\n")
        client_proc.stdin.flush()
        seen = json.loads(client_proc.stdout.readline())
        return {
            "base": base,
            "open": open_rss,
            "after": after_rss,
            "opened_in": opened_in,
            "committed": committed,
            "seen": seen,
        }
    finally:
        if client_proc is not None and client_proc.poll() is None:
            client_proc.kill()
            client_proc.wait()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def report(args, result: dict) -> bool:
    samples, missing = delays(result["committed"], result["seen"], args.clients)
    per_stream = (result["open"] - result["base"]) / args.clients
    if args.floor:
        say(f"uvicorn floor: {per_stream:,.0f} B per open stream with a do-nothing app")
        return per_stream < TARGET_BYTES_PER_STREAM
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    say(
        f"streams: {args.clients} opened in {result['opened_in']:.1f} s; server RSS "
        f"{result['base'] / 2**20:.1f} MiB before, {result['open'] / 2**20:.1f} MiB with them "
        f"open, {result['after'] / 2**20:.1f} MiB after the bids"
    )
    say(
        f"delivery: {len(result['committed'])} bids x {args.clients} clients = "
        f"{len(samples):,} messages received, {missing:,} missing; delay from commit "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(samples, default=float('nan')):.0f} ms"
    )
    ok_delay = p99 < TARGET_P99_MS and missing == 0
    ok_memory = per_stream < TARGET_BYTES_PER_STREAM
    say(f"p99 delay {p99:.0f} ms (target < {TARGET_P99_MS:.0f}, none missing): {verdict(ok_delay)}")
    say(
        f"memory per open stream {per_stream:,.0f} B (target < {TARGET_BYTES_PER_STREAM} B): "
        f"{verdict(ok_memory)}"
    )
    return ok_delay and ok_memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000, help="concurrent SSE clients")
    parser.add_argument("--bids", type=int, default=40, help="bids placed while they listen")
    parser.add_argument("--rate", type=float, default=5.0, help="bids per second")
    parser.add_argument("--keep", action="store_true", help="leave the auction open")
    parser.add_argument("--floor", action="store_true", help="uvicorn alone: a do-nothing app")
    args = parser.parse_args(argv)
    log_dir, database = django_start()
    from bidding.services.closing import auction_cancel

    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d%H%M%S")
    say(
        f"stream bench {now:%Y-%m-%d %H:%M:%S} UTC: {args.clients} SSE clients on one auction, "
        f"{args.bids} bids at {args.rate:g}/s; uvicorn (uvloop, httptools), one process; "
        f"{database}; {os.cpu_count()} CPUs"
    )
    fixtures = create_fixtures(stamp)
    try:
        ok = report(args, measure(args, fixtures, log_dir))
    finally:
        if not args.keep:
            auction_cancel(actor=fixtures["officer"], auction_id=fixtures["auction"].pk)
    say(f"overall: {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2:])
    else:
        sys.exit(main())
