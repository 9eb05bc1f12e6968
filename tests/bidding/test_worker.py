"""A real Celery worker (with its embedded beat) closes an auction on time (DESIGN.md,
Invariant 3; API.md: the server clock is the auction clock).

The worker runs as a subprocess against the test database and a real Redis broker. It uses its
own Redis database number, derived from the test database's name, and this process publishes
there too while the test runs: parallel test sessions sharing one Redis server then never
consume each other's messages (a worker on the shared default queue would run other sessions'
tasks against this session's database, and steal them from their own workers).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from kombu import pools as kombu_pools

from bidding.models import Auction
from bidding.services.bids import bid_place
from marketplace.celery import app as celery_app
from settlement.models import Settlement
from tests.bidding.conftest import START, actions_of, make_auction, make_bidder, register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
CLOSE_WITHIN = dt.timedelta(seconds=10)
READY_TIMEOUT = 60


def worker_database_url() -> str:
    db = settings.DATABASES["default"]  # inside a test, NAME is the test database
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST']}:{db['PORT']}/{quote(db['NAME'], safe='')}"


def private_broker_url() -> str:
    """The configured broker, on a Redis database number of this test database's own."""
    parts = urlsplit(settings.CELERY_BROKER_URL)
    number = 1 + zlib.crc32(settings.DATABASES["default"]["NAME"].encode()) % 15
    return urlunsplit(parts._replace(path=f"/{number}"))


def _drop_producer_connections() -> None:
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # kombu also caches producer pools per connection in a global group; without a reset, a
    # later publish in this process would get the pool closed above ("Acquire on closed pool").
    kombu_pools.reset()


@contextlib.contextmanager
def publishing_to(url: str):
    """Messages published by this process (``send_task`` after commit) go to ``url``."""
    previous = celery_app.conf.broker_url
    _drop_producer_connections()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        _drop_producer_connections()
        celery_app.conf.broker_url = previous


def start_worker(broker_url: str, run_dir: Path, log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": broker_url,
        "MARKETPLACE_QUIET": "1",
        "DB_CONN_MAX_AGE": "0",
        "AUCTION_SWEEP_SECONDS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "marketplace",
        "worker",
        "--beat",
        "--schedule-filename",
        str(run_dir / "celerybeat-schedule"),
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"bidding-test-{os.getpid()}@%h",
    ]
    return subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the embedded beat stops with it
    )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=15)


def wait_until_ready(worker: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode}:\n{tail(log_path)}")
        if " ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    pytest.fail(f"the worker was not ready within {READY_TIMEOUT} s:\n{tail(log_path)}")


def tail(log_path: Path, lines: int = 60) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def test_a_real_worker_closes_and_settles_an_auction_on_time(
    seller_user, compliance_user, tmp_path
):
    broker_url = private_broker_url()
    # Messages a killed earlier run left behind would only add noise to the log.
    redis.Redis.from_url(broker_url).delete(celery_app.conf.task_default_queue)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = start_worker(broker_url, tmp_path, log)
    try:
        wait_until_ready(worker, log_path)
        with publishing_to(broker_url):
            # Committed at once (transaction=True): the close message is published with an
            # ETA at the end, and the worker sees the rows.
            auction = make_auction(
                seller_user,
                reserve_price=None,
                soft_close_seconds=0,
                ends_in=dt.timedelta(seconds=3),
            )
            bidder = make_bidder()
            register(bidder, auction, confirmed_by=compliance_user)
            bid_place(actor=bidder, auction_id=auction.pk, amount=START)
        assert Auction.objects.get(pk=auction.pk).status == "open"

        fresh = Auction.objects.get(pk=auction.pk)
        while fresh.status != "closed" and timezone.now() < fresh.ends_at + CLOSE_WITHIN:
            time.sleep(0.2)
            fresh = Auction.objects.get(pk=auction.pk)
    finally:
        stop_worker(worker)

    assert fresh.status == "closed", f"not closed in time; worker log:\n{tail(log_path)}"
    assert fresh.ends_at <= fresh.closed_at <= fresh.ends_at + CLOSE_WITHIN
    assert fresh.outcome == "awarded" and fresh.winner_id == bidder.organization_id
    assert len(actions_of(auction, "auction.closed")) == 1
    settlement = Settlement.objects.get(auction=auction)
    assert settlement.price == START and settlement.buyer_id == bidder.organization_id
