"""What the outage fault scripts (``redis_outage``, ``db_restart``) and their bounded tests share:
the stack as real processes (``tools.stack``: gunicorn, a Celery worker, beat), buyers bidding
over HTTP, probes of ``/readyz`` and ``/healthz``, and the checks that nothing enqueued was lost
or run twice and that every due auction closed exactly once.

Data is made in this process with the test factories (the same database as the stack's), so
the caller must have Django set up on that database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from tools.ports import free_port

BASE_DIR = Path(__file__).resolve().parent.parent.parent
INCREMENT = Decimal("10000.00")


# --------------------------------------------------------------------------- HTTP


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: dict | None = None,
    timeout: float = 15,
) -> tuple[int, dict, dict]:
    """(status, JSON body or {}, headers); status 0 when no answer came at all."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, _json(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read()), dict(error.headers)
    except (urllib.error.URLError, OSError) as error:
        return 0, {"error": str(error)}, {}


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def token_for(user) -> str:
    """An API token of ``user``, issued as the token endpoint issues it (knox), without a
    login: the test settings hash passwords in a way the stack does not read."""
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=user)
    return str(token)


# --------------------------------------------------------------------------- the stack


@contextlib.contextmanager
def running_stack(env: dict[str, str], out: Path, *, ready_timeout: float = 180) -> Iterator[str]:
    """``python -m tools.stack run`` (web, worker, beat) with ``env``; yields its base URL and
    stops it (and its processes) on exit."""
    port = free_port()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.stack", "run", "--port", str(port), "--workers", "4"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(
            lambda: call("GET", f"{base_url}/readyz", timeout=3)[0] == 200,
            ready_timeout,
            lambda: proc.poll() is not None,
            f"stack not ready; see {out}",
        )
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(ok: Callable[[], bool], timeout: float, dead: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead():
            raise RuntimeError(what)
        if ok():
            return
        time.sleep(0.3)
    raise RuntimeError(what)


def wait_until(ok: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``ok()`` held (polled every 0.2 s), or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ok():
            return time.monotonic() - start
        time.sleep(0.2)
    return None


# --------------------------------------------------------------------------- the sale


@dataclass
class Live:
    """An open English auction with two buyers taking turns to outbid each other."""

    auction_id: int
    tokens: list[str]
    price: Decimal


@dataclass
class Scenario:
    live: list[Live]
    due: list[int]  # auctions (each with one bid) whose end falls inside the outage
    settlement_id: int | None  # an awarded auction's settlement, paid during the outage
    compliance_token: str


def build_scenario(
    *,
    n_live: int = 2,
    n_due: int = 3,
    with_payment: bool = True,
    extension_seconds: int = 5,
) -> Scenario:
    """The sale: ``n_live`` open auctions whose every bid extends the end (soft close), ``n_due``
    auctions with one bid each, ending in an hour (``move_ends`` brings their end into the
    outage), and one awarded settlement awaiting payment."""
    from bidding.services.bids import bid_place
    from tests.bidding.conftest import START, make_auction, register
    from tests.factories import SettlementFactory, make_bank_officer, make_bidder, platform_user

    seller, compliance = make_bank_officer(), platform_user()
    live = []
    for _ in range(n_live):
        auction = make_auction(
            seller,
            ends_in=dt.timedelta(seconds=60),
            soft_close_seconds=3600,
            extension_seconds=extension_seconds,
        )
        buyers = [make_bidder() for _ in range(2)]
        for buyer in buyers:
            register(buyer, auction, confirmed_by=compliance)
        live.append(Live(auction.pk, [token_for(b) for b in buyers], START))
    due = []
    for _ in range(n_due):
        auction = make_auction(seller, ends_in=dt.timedelta(hours=1), soft_close_seconds=0)
        buyer = make_bidder()
        register(buyer, auction, confirmed_by=compliance)
        bid_place(actor=buyer, auction_id=auction.pk, amount=str(START + 200_000))
        due.append(auction.pk)
    settlement_id = SettlementFactory().pk if with_payment else None
    return Scenario(live, due, settlement_id, token_for(compliance))


# --------------------------------------------------------------------------- load


@dataclass
class Seen:
    """What the clients saw: (monotonic time, status, code) per request."""

    answers: list[tuple[float, int, str]] = field(default_factory=list)
    seconds: dict[int, list[float]] = field(default_factory=dict)  # response times by status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, body: dict, took: float = 0.0) -> None:
        with self.lock:
            self.answers.append((time.monotonic(), status, str(body.get("code", ""))))
            self.seconds.setdefault(status, []).append(took)

    def slowest(self, status: int) -> float | None:
        """The longest time an answer of ``status`` took, in seconds."""
        times = self.seconds.get(status)
        return round(max(times), 3) if times else None

    def between(self, start: float, end: float) -> Counter[int]:
        return Counter(s for t, s, _ in self.answers if start <= t <= end)


def bid_forever(
    base_url: str, live: Live, seen: Seen, stop: threading.Event, pause: float = 0.05
) -> None:
    """The two buyers outbid each other by the minimum increment until ``stop``."""
    turn = 0
    while not stop.is_set():
        amount = live.price + INCREMENT
        started = time.monotonic()
        status, body, _ = call(
            "POST",
            f"{base_url}/api/v1/auctions/{live.auction_id}/bids/",
            token=live.tokens[turn % 2],
            body={"amount": str(amount)},
        )
        seen.add(status, body, time.monotonic() - started)
        if status == 201:
            live.price = amount
            turn += 1
        elif status == 409 and body.get("minimum_bid"):
            live.price = Decimal(body["minimum_bid"]) - INCREMENT
        time.sleep(pause)


@contextlib.contextmanager
def bidding(base_url: str, scenario: Scenario, seen: Seen) -> Iterator[None]:
    stop = threading.Event()
    threads = [
        threading.Thread(target=bid_forever, args=(base_url, live, seen, stop), daemon=True)
        for live in scenario.live
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def probe(base_url: str) -> dict[str, object]:
    """One look at /healthz and /readyz."""
    health = call("GET", f"{base_url}/healthz", timeout=5)[0]
    status, body, _ = call("GET", f"{base_url}/readyz", timeout=10)
    return {
        "healthz": health,
        "readyz": status,
        "checks": body.get("checks", {}),
        "outbox_lag_seconds": body.get("outbox_lag_seconds"),
    }


# --------------------------------------------------------------------------- checks


def closes_of(auction_ids: list[int]) -> dict[int, int]:
    """``auction.closed`` audit events per auction (exactly one each when closed once)."""
    from marketplace.audit.models import AuditEvent

    counts = Counter(
        int(object_id)
        for object_id in AuditEvent.objects.filter(
            object_type="auction",
            object_id__in=[str(a) for a in auction_ids],
            action="auction.closed",
        ).values_list("object_id", flat=True)
    )
    return {a: counts.get(a, 0) for a in auction_ids}


def settlements_of(auction_ids: list[int]) -> dict[int, int]:
    from settlement.models import Settlement

    counts = Counter(
        Settlement.objects.filter(auction_id__in=auction_ids).values_list("auction_id", flat=True)
    )
    return {a: counts.get(a, 0) for a in auction_ids}


TASK_DONE = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] (succeeded|raised|retry)")


def task_runs(log_dir: Path) -> Counter[str]:
    """Successful runs per Celery task id, read from the workers' logs."""
    runs: Counter[str] = Counter()
    for path in log_dir.glob("*.log"):
        for match in TASK_DONE.finditer(path.read_text(errors="replace")):
            if match.group(3) == "succeeded":
                runs[match.group(2)] += 1
    return runs


def outbox_between(start: dt.datetime, end: dt.datetime) -> list[tuple[str, str, bool, bool]]:
    """Outbox messages written in [start, end]: (task, task id, sent, due by now)."""
    from marketplace.outbox.models import OutboxMessage

    now = timezone.now()
    return [
        (m.task, str(m.task_id), m.sent_at is not None, m.eta is None or m.eta <= now)
        for m in OutboxMessage.objects.filter(created_at__gte=start, created_at__lte=end)
    ]


def effects_ran_once(messages: list[tuple[str, str, bool, bool]], runs: Counter[str]) -> bool:
    """Every message sent, and every due one run exactly once by a worker."""
    return all(sent for _, _, sent, _ in messages) and all(
        runs.get(task_id) == 1 for _, task_id, _, due in messages if due
    )


# --------------------------------------------------------------------------- own servers


@contextlib.contextmanager
def own_servers(name: str) -> Iterator[dict[str, str]]:
    """Fresh embedded PostgreSQL and Redis under ``var/faults/<name>`` (so a fault stops and
    restarts these, never the development servers), migrated, with Django set up on them in
    this process. Yields the stack's environment; stops both servers on exit."""
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        raise SystemExit("fault scripts stop and restart the embedded servers: unset *_URL")
    data = BASE_DIR / "var" / "faults" / name
    os.environ.update({"DATA_DIR": str(data), "MARKETPLACE_QUIET": "1"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    from tools import embedded

    embedded.postgres_stop()  # left over from an interrupted run
    embedded.redis_stop()
    shutil.rmtree(data, ignore_errors=True)
    with embedded.servers() as urls:
        env = {**os.environ, **urls, "AUCTION_SWEEP_SECONDS": "1"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        os.environ.update(urls)
        import django

        django.setup()
        yield env


def move_ends(auction_ids: list[int], *, in_seconds: float, reschedule: bool = False) -> None:
    """Move these auctions' ends to ``in_seconds`` from now (time moves in the database). Their
    close messages were scheduled for later, so only the sweep closes them on time, unless
    ``reschedule`` enqueues a close at the new end (as a soft-close extension does)."""
    from django.db import transaction

    from bidding.models import Auction
    from bidding.services.schedule import CLOSE_TASK, schedule

    end = timezone.now() + dt.timedelta(seconds=in_seconds)
    with transaction.atomic():
        Auction.objects.filter(pk__in=auction_ids).update(ends_at=end)
        for auction_id in auction_ids if reschedule else []:
            schedule(CLOSE_TASK, auction_id, end)
