"""Bidding benchmark: concurrent bids over HTTP against the floor of the stack.

    .venv/bin/python bench/bids.py [--seconds 20] [--clients 64] [--procs 4] [--warmup 3]
                                   [--workers 10] [--worker-class sync] [--threads 1]
                                   [--worker-connections 0] [--keep-alive N] [--keep]

One run, against the database and broker of the settings (embedded ones if DATABASE_URL /
REDIS_URL are unset):

1. fixtures, through the services (names carry a UTC timestamp, so runs never collide): a bank
   and its disposal officer; 101 approved packages (``Package.objects.create``); an English
   auction on each (opens now, ends in 2 h, ``soft_close_seconds`` 0, starting price 1000.00,
   increment 1.00, deposit 0); 64 (or ``--clients`` if more) approved buyer organisations
   (``national_amc``) with one bidder each, registered on every auction (deposit 0, so approved
   at once);
2. gunicorn on a free 127.0.0.1 port, by default as ``make run`` starts it
   (``tools.stack``: ``--workers`` sync workers, each connection closed after its answer),
   or ``--worker-class gthread`` with ``--threads``; output in ``var/log/bench-bids-web.log``;
   every bidder logs in through ``POST /api/v1/auth/token/``;
3. a warm-up of ``GET /api/v1/me/`` (not counted), then three phases of ``--seconds`` each with
   ``--clients`` closed-loop clients (client i is bidder i):
   (a) all clients bid on the one hot auction;
   (b) client i bids on auction i % 100 of the other 100, moving to the next one after an
       accepted bid or ``already_leading``;
   (c) ``GET /api/v1/me/``, the floor of the stack (routing, knox token, the user's
       organisation, JSON).
   The bid loop: ``amount`` = last known price + increment * randint(1, 3); on 409
   ``bid_too_low`` the next try is the response's ``minimum_bid``; on 409 ``already_leading``
   the client waits 10-30 ms (a) or moves on (b). No other request is made (no GETs);
4. the auction invariants in the database for all 101 auctions: bid sequences gapless from 1,
   the first bid >= starting price, each next one >= the previous + min_increment,
   ``current_price`` == max amount == last amount, ``leading_bid`` == last bid,
   ``bid_count`` == number of bids == number of ``bid.placed`` audit events;
5. clean-up: gunicorn is stopped (always); the auctions are cancelled through
   ``auction_cancel`` (packages back to approved, nothing closes later) and their scheduled
   close messages are removed from the broker, unless ``--keep``. Rows stay.

Load generator: ``--procs`` processes (spawned, not forked), each with its share of the clients
as threads; each thread has its own ``http.client.HTTPConnection`` (keep-alive) to 127.0.0.1
(opened 10 ms apart, not in one burst) and times each request from send to the last byte of the
answer. When the server closes the connection after an answer (sync workers always do), the
next request opens a new one, inside its timing; the connections are counted as TCP connects.
The processes start together on a shared start time and stop issuing at start + ``--seconds``;
rates and latency percentiles count the answers that arrived within that window (those in
flight at its end are only counted by status). Each process reports its own CPU time over the
window, so the load generator's share of the cores is printed beside the server's (gunicorn,
and the PostgreSQL backends serving it, found by their client ports), with how gunicorn's
workers share the client connections.

Targets: no 5xx at all; requests/s (a)/(c) >= 0.5 and (b)/(c) >= 0.6; p99 latency < 250 ms in
every phase (nearest rank). PASS/FAIL is computed from the measurements of this run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from benchlib import (  # bench/, this script's folder, is first on sys.path
    BASE_DIR,
    HOST,
    free_port,
    percentile,
    say,
    start_gunicorn,
    stop_gunicorn,
    verdict,
    wait_healthy,
)

if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

PASSWORD = "Bench-bids-pw-2026!"  # noqa: S105  (throwaway bench accounts)
BUYERS = 64
OTHER_AUCTIONS = 100
START_CENTS = 1000_00
INCREMENT_CENTS = 1_00
AUCTION_HOURS = 2
SETUP_THREADS = 4
CONNECT_GAP = 0.01  # seconds between two clients' connection set-ups

TARGET_A_OVER_C = 0.5
TARGET_B_OVER_C = 0.6
TARGET_P99_MS = 250.0

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def money(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


# --------------------------------------------------------------------------- load generator
# Top-level functions only: the client processes are spawned and import this module afresh
# (nothing Django is imported on that path).


class ClientStats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.counts: Counter[str] = Counter()
        self.accepted = 0  # 201s answered within the window
        self.accepted_late = 0
        self.late = 0  # answers after the window: not counted in rates and latencies
        self.connects = 0


class Client:
    """One closed-loop client: a thread with its own persistent HTTP connection."""

    def __init__(self, port: int, token: str, deadline: float) -> None:
        self.port = port
        self.deadline = deadline
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.post_headers = {**self.headers, "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        self.stats = ClientStats()
        self.in_window = True  # whether the last answer came before the deadline

    def connect(self) -> None:
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        self.conn.connect()
        self.stats.connects += 1

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Returns (status, body); (0, b"") after a transport error (counted, reconnects)."""
        headers = self.post_headers if body is not None else self.headers
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.connect()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
            status = response.status
            if response.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException) as exc:
            self.stats.counts[f"error {type(exc).__name__}"] += 1
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            time.sleep(0.05)
            return 0, b""
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.in_window = time.monotonic() <= self.deadline
        if self.in_window:
            self.stats.latencies.append(elapsed_ms)
        else:
            self.stats.late += 1
        return status, payload

    def count(self, status: int, payload: bytes) -> dict:
        """Count the answer by status (and problem code); returns the parsed problem body."""
        if status < 300:
            self.stats.counts[str(status)] += 1
            return {}
        problem: dict = {}
        with contextlib.suppress(ValueError):
            problem = json.loads(payload)
        code = problem.get("code", "-") if isinstance(problem, dict) else "-"
        self.stats.counts[f"{status} {code}"] += 1
        return problem if isinstance(problem, dict) else {}

    def run_me(self) -> None:
        while time.monotonic() < self.deadline:
            status, payload = self.request("GET", "/api/v1/me/")
            if status:
                self.count(status, payload)

    def run_bids(self, auctions: list[int], first: int, hot: bool) -> None:
        rng = random.Random()
        known: dict[int, int] = {}  # auction -> last known price, in cents
        index = first % len(auctions)
        amount: int | None = None
        while time.monotonic() < self.deadline:
            auction = auctions[index]
            if amount is None:
                last = known.get(auction, START_CENTS - INCREMENT_CENTS)
                amount = last + INCREMENT_CENTS * rng.randint(1, 3)
            body = b'{"amount": "' + money(amount).encode() + b'"}'
            status, payload = self.request("POST", f"/api/v1/auctions/{auction}/bids/", body)
            if not status:
                amount = None
                continue
            problem = self.count(status, payload)
            if status == 201:
                if self.in_window:
                    self.stats.accepted += 1
                else:
                    self.stats.accepted_late += 1
                known[auction] = amount
                amount = None
                index = (index + 1) % len(auctions)
            elif problem.get("code") == "bid_too_low" and "minimum_bid" in problem:
                amount = cents(str(problem["minimum_bid"]))
                known[auction] = amount - INCREMENT_CENTS
            elif problem.get("code") == "already_leading":
                amount = None
                if hot:
                    time.sleep(rng.uniform(0.010, 0.030))
                else:
                    index = (index + 1) % len(auctions)
            else:
                amount = None
                if status >= 500:
                    time.sleep(0.01)


def client_process(
    port: int,
    jobs: list[tuple[int, str]],
    mode: str,
    auctions: list[int],
    seconds: float,
    sync: dict,
    results,
) -> None:
    """One load-generator process: len(jobs) client threads. jobs: (client index, token).

    Start-up in steps with the parent (``sync``): spawned -> connect (client i opens its
    connection at connect_at + i * CONNECT_GAP, so connections do not arrive in one burst)
    -> connected -> go (all processes start at start_at)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    ready, start_at = sync["ready"], sync["start_at"]
    ready.put(("spawned", os.getpid()))
    if not sync["connect"].wait(120):
        return
    clients: list[Client] = []
    threads: list[threading.Thread] = []
    release = threading.Event()
    for index, token in jobs:
        client = Client(port, token, deadline=0.0)
        time.sleep(max(0.0, sync["connect_at"].value + index * CONNECT_GAP - time.monotonic()))
        try:
            client.connect()
        except OSError as exc:
            client.stats.counts[f"error {type(exc).__name__}"] += 1
            client.conn = None

        def body(client=client, index=index) -> None:
            release.wait()
            if mode == "me":
                client.run_me()
            else:
                client.run_bids(auctions, index, hot=(mode == "hot"))

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        clients.append(client)
        threads.append(thread)
    ready.put(("connected", os.getpid()))
    if not sync["go"].wait(120):
        return
    deadline = start_at.value + seconds
    for client in clients:
        client.deadline = deadline
    while time.monotonic() < start_at.value:
        time.sleep(0.0005)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    release.set()
    for thread in threads:
        thread.join(seconds + 120)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    merged = ClientStats()
    for client in clients:
        merged.latencies.extend(client.stats.latencies)
        merged.counts.update(client.stats.counts)
        merged.accepted += client.stats.accepted
        merged.accepted_late += client.stats.accepted_late
        merged.late += client.stats.late
        merged.connects += client.stats.connects
        if client.conn is not None:
            client.conn.close()
    results.put(
        {
            "latencies": merged.latencies,
            "counts": dict(merged.counts),
            "accepted": merged.accepted,
            "accepted_late": merged.accepted_late,
            "late": merged.late,
            "connects": merged.connects,
            "cpu": cpu,
            "alive": sum(thread.is_alive() for thread in threads),
        }
    )


# --------------------------------------------------------------------------- /proc sampling


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def all_cpu() -> dict[int, float]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None:
                out[int(entry)] = stat[1]
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


def children_of(ppid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[0] == ppid:
                out.append(int(entry))
    return out


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def tcp_table() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
        rows.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16), state, inode))
    return rows


def server_topology(workers: list[int], web_port: int, pg_port: int) -> dict:
    """Client connections held by each gunicorn worker, and the PostgreSQL backends serving
    the workers (matched by the client port in the backend's process title)."""
    table = tcp_table()
    established = "01"
    per_worker = {}
    pg_ports: set[int] = set()
    for pid in workers:
        inodes = socket_inodes(pid)
        per_worker[pid] = sum(
            1
            for local, _, state, inode in table
            if inode in inodes and local == web_port and state == established
        )
        pg_ports.update(
            local
            for local, remote, state, inode in table
            if inode in inodes and remote == pg_port and state == established
        )
    backends = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            if title.startswith("postgres:") and "(" in title:
                port = title.split("(", 1)[1].split(")", 1)[0]
                if port.isdigit() and int(port) in pg_ports:
                    backends.append(int(entry))
    return {"per_worker": per_worker, "backends": backends}


# --------------------------------------------------------------------------- set-up


def parallel(fn, items: list, threads: int = SETUP_THREADS) -> list:
    """Run fn over items in a few threads (each with its own DB connection, closed after)."""
    from django.db import connections

    results: list = [None] * len(items)
    errors: list[BaseException] = []
    lock = threading.Lock()
    cursor = iter(range(len(items)))

    def work() -> None:
        try:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None or errors:
                    return
                results[index] = fn(items[index])
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def create_fixtures(stamp: str, buyers: int, others: int) -> dict:
    from django.utils import timezone

    from bidding.services.auctions import AuctionTerms, auction_create
    from bidding.services.registrations import registration_create
    from listings.models import Package
    from marketplace.accounts.services import (
        member_create,
        organization_approve,
        organization_create,
    )

    bank = organization_create(actor=None, name=f"Bench Bank (bids {stamp})", kind="bank")
    officer = member_create(
        actor=None,
        organization_id=bank.pk,
        username=f"bench-bids-{stamp}-seller",
        password=PASSWORD,
        role="disposal_officer",
    )

    def buyer(i: int):
        org = organization_create(
            actor=None,
            name=f"Bench Buyer {i:03d} (bids {stamp})",
            kind="buyer",
            licence_type="national_amc",
        )
        organization_approve(actor=None, organization_id=org.pk, reason="bench")
        return member_create(
            actor=None,
            organization_id=org.pk,
            username=f"bench-bids-{stamp}-bidder-{i:03d}",
            password=PASSWORD,
            role="bidder",
        )

    clock = time.perf_counter()
    bidders = parallel(buyer, list(range(buyers)))
    timings = {"buyers": time.perf_counter() - clock}
    clock = time.perf_counter()
    started = timezone.now()
    ends = started + dt.timedelta(hours=AUCTION_HOURS)

    def auction(i: int):
        package = Package.objects.create(
            seller=bank,
            created_by=officer,
            title=f"Bench bids package {i:03d} ({stamp})",
            currency="EUR",
            cut_off_date=dt.date(2026, 9, 30),
            status="approved",
        )
        terms = AuctionTerms(
            format="english",
            starts_at=timezone.now(),
            ends_at=ends,
            starting_price=money(START_CENTS),
            min_increment=money(INCREMENT_CENTS),
            deposit_amount="0",
            soft_close_seconds=0,
        )
        return auction_create(actor=officer, package_id=package.pk, terms=terms).pk

    auction_ids = parallel(auction, list(range(others + 1)))
    timings["auctions"] = time.perf_counter() - clock
    clock = time.perf_counter()

    def register(auction_id: int) -> None:
        for bidder in bidders:
            registration = registration_create(actor=bidder, auction_id=auction_id, accept_nda=True)
            if registration.status != "approved":
                raise RuntimeError(f"registration {registration.pk} is {registration.status}")

    parallel(register, auction_ids, threads=SETUP_THREADS * 2)
    timings["registrations"] = time.perf_counter() - clock
    return {
        "timings": timings,
        "officer": officer,
        "bidders": [b.username for b in bidders],
        "hot": auction_ids[0],
        "others": auction_ids[1:],
    }


def remove_scheduled_messages(auction_ids: list[int]) -> int:
    """Remove the open/close messages auction_create queued for these auctions (after they are
    cancelled those would be no-ops, but no worker started later should hold them)."""
    import redis
    from django.conf import settings

    from bidding.services.schedule import CLOSE_TASK, OPEN_TASK

    wanted = {f"({i},)" for i in auction_ids} | {f"[{i}]" for i in auction_ids}
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE  # opens and closes are time-critical
    removed = 0
    for raw in client.lrange(queue, 0, -1):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            headers = json.loads(raw).get("headers", {})
            if headers.get("task") in (CLOSE_TASK, OPEN_TASK) and headers.get("argsrepr") in wanted:
                removed += client.lrem(queue, 1, raw)
    return removed


# --------------------------------------------------------------------------- server


def http_json(port: int, method: str, path: str, data: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        body = json.dumps(data).encode() if data is not None else None
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {}
        return response.status, parsed
    finally:
        conn.close()


def login_all(port: int, usernames: list[str]) -> list[str]:
    tokens: list[str | None] = [None] * len(usernames)
    failures: list[str] = []

    def login(i: int) -> None:
        status, body = http_json(
            port,
            "POST",
            "/api/v1/auth/token/",
            {"username": usernames[i], "password": PASSWORD},
        )
        if status != 200 or "token" not in body:
            failures.append(f"{usernames[i]}: {status} {body}")
        else:
            tokens[i] = body["token"]

    pending = list(range(len(usernames)))
    while pending:
        batch, pending = pending[:8], pending[8:]
        threads = [threading.Thread(target=login, args=(i,)) for i in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise RuntimeError(f"login failed for {len(failures)} bidders, e.g. {failures[0]}")
    return [t for t in tokens if t is not None]


# --------------------------------------------------------------------------- phases


def run_phase(
    *,
    name: str,
    mode: str,
    port: int,
    tokens: list[str],
    clients: int,
    procs: int,
    auctions: list[int],
    seconds: float,
    server_pids: list[int],
    pg_port: int,
) -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    sync = {
        "ready": ctx.Queue(),
        "connect": ctx.Event(),
        "connect_at": ctx.Value("d", 0.0),
        "go": ctx.Event(),
        "start_at": ctx.Value("d", 0.0),
    }
    jobs: list[list[tuple[int, str]]] = [[] for _ in range(procs)]
    for i in range(clients):
        jobs[i % procs].append((i, tokens[i % len(tokens)]))
    processes = [
        ctx.Process(
            target=client_process,
            args=(port, job, mode, auctions, seconds, sync, results),
            daemon=True,
        )
        for job in jobs
        if job
    ]
    try:
        for process in processes:
            process.start()
        for _ in processes:
            sync["ready"].get(timeout=120)
        sync["connect_at"].value = time.monotonic() + 0.05
        sync["connect"].set()
        for _ in processes:
            sync["ready"].get(timeout=120)
        start = time.monotonic() + 0.3
        sync["start_at"].value = start
        sync["go"].set()
        time.sleep(max(0.0, start - time.monotonic()))
        cpu0, machine0 = all_cpu(), machine_busy()
        time.sleep(max(0.0, start + seconds / 2 - time.monotonic()))
        workers = [child for pid in server_pids for child in children_of(pid)]
        topology = server_topology(workers, port, pg_port)
        time.sleep(max(0.0, start + seconds - time.monotonic()))
        cpu1, machine1 = all_cpu(), machine_busy()
        parts = [results.get(timeout=seconds + 180) for _ in processes]
        for process in processes:
            process.join(30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)

    def cpu_of(pids: list[int]) -> float:
        return sum(cpu1.get(pid, 0.0) - cpu0.get(pid, 0.0) for pid in pids if pid in cpu1)

    latencies: list[float] = []
    counts: Counter[str] = Counter()
    for part in parts:
        latencies.extend(part["latencies"])
        counts.update(part["counts"])
    window = machine1[1] - machine0[1]
    busy = machine1[0] - machine0[0]
    return {
        "name": name,
        "requests": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "accepted": sum(part["accepted"] for part in parts),
        "accepted_late": sum(part["accepted_late"] for part in parts),
        "late": sum(part["late"] for part in parts),
        "counts": counts,
        "connects": sum(part["connects"] for part in parts),
        "stuck": sum(part["alive"] for part in parts),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "cpu_gunicorn": cpu_of([*server_pids, *workers]) / seconds,
        "cpu_pg": cpu_of(topology["backends"]) / seconds,
        "cpu_clients": sum(part["cpu"] for part in parts) / seconds,
        "cpu_busy": busy / seconds,
        "cpus": window / seconds,
        "per_worker": sorted(topology["per_worker"].values(), reverse=True),
        "backends": len(topology["backends"]),
    }


def describe(result: dict, bids: bool) -> None:
    counts: Counter[str] = result["counts"]
    line = (
        f"  {result['rps']:8.1f} requests/s ({result['requests']:,} answered in "
        f"{result['seconds']:g} s)"
    )
    if bids:
        line += (
            f", accepted {result['accepted'] / result['seconds']:7.1f} bids/s"
            f" ({result['accepted']:,})"
        )
    say(line)
    say(
        f"  latency ms: p50 {result['p50']:.1f}  p95 {result['p95']:.1f}  "
        f"p99 {result['p99']:.1f}  max {result['max']:.1f}"
    )
    say(
        f"  answers by status/code (including the {result['late']} in flight at the end, "
        "answered after the window and not counted above):"
    )
    by_kind = {
        "2xx": {k: v for k, v in counts.items() if k[0] == "2"},
        "409": {k: v for k, v in counts.items() if k.startswith("409")},
        "other 4xx": {k: v for k, v in counts.items() if k[0] == "4" and not k.startswith("409")},
        "5xx": {k: v for k, v in counts.items() if k[0] == "5"},
        "errors": {k: v for k, v in counts.items() if k.startswith("error")},
    }
    for kind, items in by_kind.items():
        text = ", ".join(f"{k} x{v:,}" for k, v in sorted(items.items())) or "0"
        say(f"  {kind:<9}: {text}")
    ours = result["cpu_gunicorn"] + result["cpu_pg"] + result["cpu_clients"]
    say(
        f"  CPU, cores busy (of {result['cpus']:.1f}): gunicorn {result['cpu_gunicorn']:.2f}, "
        f"its {result['backends']} PostgreSQL backends {result['cpu_pg']:.2f}, "
        f"load generator {result['cpu_clients']:.2f}; machine {result['cpu_busy']:.2f} "
        f"(rest {max(0.0, result['cpu_busy'] - ours):.2f}: other users, PostgreSQL "
        "background, kernel)"
    )
    say(
        f"  client connections per worker (mid-phase): {result['per_worker']}; "
        f"TCP connects {result['connects']}"
        + (f"; {result['stuck']} client threads still running!" if result["stuck"] else "")
    )


# --------------------------------------------------------------------------- invariants


def check_invariants(auction_ids: list[int]) -> list[str]:
    from bidding.models import Auction, Bid
    from marketplace.audit.models import AuditEvent

    problems = []
    for auction in Auction.objects.filter(pk__in=auction_ids).order_by("pk"):
        rows = list(
            Bid.objects.filter(auction=auction)
            .order_by("sequence")
            .values_list("id", "sequence", "amount")
        )
        where = f"auction {auction.pk}"
        sequences = [row[1] for row in rows]
        amounts = [row[2] for row in rows]
        if sequences != list(range(1, len(rows) + 1)):
            problems.append(f"{where}: sequences not gapless from 1")
        if amounts and amounts[0] < auction.starting_price:
            problems.append(f"{where}: first bid {amounts[0]} below the starting price")
        for k in range(1, len(amounts)):
            if amounts[k] - amounts[k - 1] < auction.min_increment:
                problems.append(
                    f"{where}: bid #{sequences[k]} {amounts[k]} after {amounts[k - 1]} "
                    f"(increment {auction.min_increment})"
                )
                break
        top = max(amounts) if amounts else None
        if auction.current_price != top or (amounts and amounts[-1] != top):
            problems.append(f"{where}: current_price {auction.current_price}, max bid {top}")
        if auction.leading_bid_id != (rows[-1][0] if rows else None):
            problems.append(f"{where}: leading_bid {auction.leading_bid_id} is not the last bid")
        if auction.bid_count != len(rows):
            problems.append(f"{where}: bid_count {auction.bid_count}, {len(rows)} bids")
        events = AuditEvent.objects.filter(
            stream=f"auction:{auction.pk}", action="bid.placed"
        ).count()
        if events != len(rows):
            problems.append(f"{where}: {events} bid.placed audit events, {len(rows)} bids")
    return problems


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from tools.stack import WEB_WORKERS  # make run's number of web processes

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--procs", type=int, default=4, help="load-generator processes")
    parser.add_argument(
        "--workers", type=int, default=WEB_WORKERS, help="gunicorn workers (as make run)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="gthread threads per worker (sync: 1)"
    )
    parser.add_argument(
        "--worker-connections",
        type=int,
        default=0,
        help="gunicorn --worker-connections (0: gunicorn's default, 1000)",
    )
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["gthread", "sync"],
        help="gunicorn worker class (make run: sync; with --threads > 1 gunicorn runs gthread)",
    )
    parser.add_argument(
        "--keep-alive", type=int, default=None, help="gunicorn --keep-alive (default: its own, 2)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="GET /me/ warm-up, seconds")
    parser.add_argument("--keep", action="store_true", help="leave the auctions open")
    parser.add_argument(
        "--target-port",
        type=int,
        default=None,
        help="bid against a server already listening there (e.g. make run-scaled's nginx) "
        "instead of starting gunicorn",
    )
    parser.add_argument(
        "--server-pids",
        default="",
        help="with --target-port: comma-separated gunicorn master pids, for the CPU figures",
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.procs < 1 or args.seconds <= 0:
        parser.error("--clients, --procs and --seconds must be positive")
    buyers = max(BUYERS, args.clients)  # every client bids for an organisation of its own

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    # Closed-loop clients bid at machine speed (about 10/s each), past the default per-user
    # limit (BID_RATE_LIMIT 10/s); a high rate keeps the limiter's Redis round trip in the
    # measured path without refusing the bench's bids.
    os.environ.setdefault("BID_RATE_LIMIT", "1000/s")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from bidding.services.closing import auction_cancel

    log_dir = Path(settings.DATA_DIR) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "bench-bids-web.log"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg_version,) = cursor.fetchone()
    where = "external" if os.environ.get("DATABASE_URL") else "embedded"
    pg_port = int(settings.DATABASES["default"]["PORT"])
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d%H%M%S")
    say(
        f"bidding bench {now:%Y-%m-%d %H:%M:%S} UTC: {args.clients} clients in {args.procs} "
        f"processes, {args.seconds:g} s per phase; gunicorn {args.workers} workers x "
        f"{args.threads} threads ({args.worker_class}"
        + (f", --keep-alive {args.keep_alive}" if args.keep_alive is not None else "")
        + (f", --worker-connections {args.worker_connections}" if args.worker_connections else "")
        + f"); PostgreSQL {pg_version} ({where}); "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}"
    )

    started = time.perf_counter()
    fixtures = create_fixtures(stamp, buyers, OTHER_AUCTIONS)
    hot, others = fixtures["hot"], fixtures["others"]
    say(
        f"set-up: {buyers} buyers, {1 + len(others)} auctions (hot {hot}, others "
        f"{others[0]}..{others[-1]}), {buyers * (1 + len(others)):,} registrations in "
        f"{time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in fixtures["timings"].items())
        + ")"
    )

    port = args.target_port or free_port()
    options = ["--workers", str(args.workers), "--worker-class", args.worker_class]
    options += ["--threads", str(args.threads), "--timeout", "120"]
    if args.worker_connections:
        options += ["--worker-connections", str(args.worker_connections)]
    if args.keep_alive is not None:
        options += ["--keep-alive", str(args.keep_alive)]
    proc = None if args.target_port else start_gunicorn(port, log_path, options)
    server_pids = [int(p) for p in args.server_pids.split(",") if p] if proc is None else [proc.pid]
    results: dict[str, dict] = {}
    try:
        if proc is not None:
            wait_healthy(port, proc, log_path)
        started = time.perf_counter()
        tokens = login_all(port, fixtures["bidders"])
        login_s = time.perf_counter() - started
        say(f"gunicorn on {HOST}:{port}; {len(tokens)} logins in {login_s:.1f} s")
        common = {
            "port": port,
            "tokens": tokens,
            "clients": args.clients,
            "procs": args.procs,
            "server_pids": server_pids,
            "pg_port": pg_port,
        }
        if args.warmup > 0:
            warm = run_phase(name="warm-up", mode="me", auctions=[], seconds=args.warmup, **common)
            say(f"warm-up: GET /me/ for {args.warmup:g} s, {warm['rps']:.0f} requests/s")
        spread_title = f"(b) {len(others)} auctions, client i starts on the i % {len(others)}th"
        phases = [
            ("a", "(a) one hot auction, every client bids on it", "hot", [hot]),
            ("b", spread_title, "spread", others),
            ("c", "(c) GET /api/v1/me/, the floor", "me", []),
        ]
        for key, title, mode, auctions in phases:
            say(title)
            results[key] = run_phase(
                name=key, mode=mode, auctions=auctions, seconds=args.seconds, **common
            )
            describe(results[key], bids=mode != "me")
    finally:
        if proc is not None:
            stop_gunicorn(proc)
            say(f"gunicorn stopped; its log: {log_path}")

    say("invariants (all auctions of this run):")
    problems = check_invariants([hot, *others])
    from bidding.models import Auction

    hot_auction = Auction.objects.get(pk=hot)
    spread = Auction.objects.filter(pk__in=others)
    total_other_bids = sum(a.bid_count for a in spread)
    say(
        f"  hot auction: {hot_auction.bid_count:,} bids, price {hot_auction.current_price}; "
        f"other auctions: {total_other_bids:,} bids"
    )
    for problem in problems[:10]:
        say(f"  {problem}")
    invariants_ok = not problems
    state = "OK" if invariants_ok else f"FAIL ({len(problems)} problems)"
    say(f"  sequences, increments, current_price, leading bid, bid_count, audit: {state}")

    a, b, c = results["a"], results["b"], results["c"]
    five_xx = sum(v for r in results.values() for k, v in r["counts"].items() if k[0] == "5")
    errors = sum(v for r in results.values() for k, v in r["counts"].items() if k[0] == "e")
    a_over_c, b_over_c = a["rps"] / c["rps"], b["rps"] / c["rps"]
    checks = [
        (f"zero 5xx: {five_xx} (transport errors: {errors})", five_xx == 0),
        (f"(a)/(c) requests/s >= {TARGET_A_OVER_C}: {a_over_c:.2f}", a_over_c >= TARGET_A_OVER_C),
        (f"(b)/(c) requests/s >= {TARGET_B_OVER_C}: {b_over_c:.2f}", b_over_c >= TARGET_B_OVER_C),
    ]
    for key in "abc":
        p99 = results[key]["p99"]
        checks.append((f"p99 ({key}) < {TARGET_P99_MS:g} ms: {p99:.1f} ms", p99 < TARGET_P99_MS))
    checks.append(("auction invariants", invariants_ok))
    say("targets:")
    for text, ok in checks:
        say(f"  {text:<48} {verdict(ok)}")

    if args.keep:
        say(f"kept: auctions {hot}, {others[0]}..{others[-1]} stay open until their end")
    else:
        officer = fixtures["officer"]
        for auction_id in [hot, *others]:
            auction_cancel(actor=officer, auction_id=auction_id, reason="bench/bids.py clean-up")
        removed = remove_scheduled_messages([hot, *others])
        say(
            f"cleaned up: {1 + len(others)} auctions cancelled, {removed} scheduled broker "
            "messages removed"
        )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
