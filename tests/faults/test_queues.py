"""Time-critical work never waits behind heavy work (issue 11, item 0), with real processes.

Two worker pools, each its own processes, as ``make run`` and docker-compose start them: the
critical pool (opens, closes, transfers) and the imports pool (tape imports, events), plus one
beat. A tape import occupies the imports pool's only process (it waits on the package's row
lock, which this test holds, so it runs as long as the test wants), with a second import queued
behind it; an auction of another bank ends meanwhile, and the critical pool closes it on time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from bidding.models import Auction
from bidding.services.bids import bid_place
from listings.models import LoanTapeImport
from listings.services import loan_tape_upload
from marketplace.celery import app
from settlement.models import Settlement
from tests.bidding.conftest import START, actions_of, make_auction, make_bidder, register
from tests.bidding.test_worker import private_broker_url, publishing_to, worker_database_url
from tests.factories import demo_loan, demo_tape_csv
from tests.faults.processes import CeleryProcess, broker_reset, process_env
from tests.support import make_package

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLOSE_WITHIN = dt.timedelta(seconds=10)


def test_every_task_goes_to_its_queue():
    routes = settings.CELERY_TASK_ROUTES
    app.loader.import_default_modules()  # every app's tasks module
    router = app.amqp.router
    queue = {name: router.route({}, name)["queue"].name for name in app.tasks}
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "critical"
    assert queue["listings.loan_tape_import"] == queue["listings.loan_tape_sweep"] == "imports"
    for name in (
        "settlement.auction_close",
        "settlement.auction_close_sweep",
        "bidding.auction_open",
        "bidding.auction_open_sweep",
        "settlement.loans_transfer",
        "settlement.loans_transfer_sweep",
        "settlement.default_sweep",
    ):
        assert queue[name] == "critical", name
    assert router.route({}, "notifications.webhook_deliver")["queue"].name == "events"
    assert set(routes) == {"listings.*", "notifications.*"}


def _hold_package_lock(package_id: int, release: threading.Event, held: threading.Event):
    """Lock the package's row in a connection of its own until ``release``."""
    with psycopg.connect(worker_database_url()) as conn, conn.transaction():
        conn.execute("SELECT id FROM listings_package WHERE id = %s FOR UPDATE", [package_id])
        held.set()
        release.wait(120)


def _upload(package, name: str) -> LoanTapeImport:
    content = demo_tape_csv([demo_loan(n, currency="EUR") for n in range(1, 4)])
    return loan_tape_upload(
        actor=package.created_by,
        package_id=package.pk,
        upload=SimpleUploadedFile(name, content),
        file_type="csv",
    )


def _start_pools(tmp_path, broker_url):
    env = process_env(worker_database_url(), broker_url, {"AUCTION_SWEEP_SECONDS": "1"})
    pools = [
        CeleryProcess("critical", env, tmp_path / "critical.log", "critical", 2),
        CeleryProcess("imports", env, tmp_path / "imports.log", "imports,events", 1),
        CeleryProcess("beat", env, tmp_path / "beat.log"),
    ]
    for pool in pools:
        pool.start(wait=False)
    for pool in pools:
        pool.wait_ready(0)
    return pools


def test_an_auction_closes_on_time_while_an_import_occupies_the_imports_pool(
    seller_user, compliance_user, tape_storage, tmp_path
):
    broker_url = private_broker_url()
    broker_reset(broker_url)
    draft = make_package(seller_user, title="Heavy tape")
    with publishing_to(broker_url):  # queued now, imported once the pools run
        slow = _upload(draft, "slow.csv")
        _upload(make_package(seller_user, title="Queued behind it"), "next.csv")
    release, held = threading.Event(), threading.Event()
    locker = threading.Thread(target=_hold_package_lock, args=(draft.pk, release, held))
    locker.start()
    pools = []
    try:
        assert held.wait(30)
        pools = _start_pools(tmp_path, broker_url)
        with publishing_to(broker_url):
            auction = make_auction(
                seller_user,
                reserve_price=None,
                soft_close_seconds=0,
                ends_in=dt.timedelta(seconds=4),
            )
            bidder = make_bidder()
            register(bidder, auction, confirmed_by=compliance_user)
            bid_place(actor=bidder, auction_id=auction.pk, amount=START)
        fresh = Auction.objects.get(pk=auction.pk)
        while fresh.status != "closed" and timezone.now() < fresh.ends_at + CLOSE_WITHIN:
            time.sleep(0.2)
            fresh = Auction.objects.get(pk=auction.pk)
        # The import is still running: the imports pool's only process is busy with it.
        slow_status = LoanTapeImport.objects.get(pk=slow.pk).status
    finally:
        release.set()
        locker.join(30)
        for pool in pools:
            pool.stop()

    critical, imports = pools[0].log_path.read_text(), pools[1].log_path.read_text()
    assert fresh.status == "closed", f"not closed in time:\n{critical[-3000:]}"
    assert fresh.ends_at <= fresh.closed_at <= fresh.ends_at + CLOSE_WITHIN
    assert slow_status == "processing"
    assert len(actions_of(auction, "auction.closed")) == 1
    assert Settlement.objects.filter(auction=auction).count() == 1
    # Each pool ran only its own queue's tasks.
    assert "Task settlement.auction_close[" in critical and "Task listings." not in critical
    assert "Task listings.loan_tape_import[" in imports and "Task settlement." not in imports
