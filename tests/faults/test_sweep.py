"""The close sweep skips an auction another process is closing instead of queueing behind it,
so the sweeps queued while a worker pool was down share the backlog (issue 11, item 1)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from bidding.models import Auction
from settlement.tasks import auction_close_sweep
from tests.bidding.conftest import START, make_auction, register
from tests.bidding.test_worker import worker_database_url
from tests.factories import make_bidder
from tests.support import end_auction

pytestmark = pytest.mark.django_db(transaction=True)


def _hold_row(auction_id: int, release: threading.Event, held: threading.Event) -> None:
    with psycopg.connect(worker_database_url()) as conn, conn.transaction():
        conn.execute("SELECT id FROM bidding_auction WHERE id = %s FOR UPDATE", [auction_id])
        held.set()
        release.wait(60)


def test_a_sweep_skips_the_auction_being_closed_and_closes_the_others(seller_user, compliance_user):
    from bidding.services.bids import bid_place

    busy, free = make_auction(seller_user, reserve_price=None), make_auction(seller_user)
    bidder = make_bidder()
    register(bidder, busy, confirmed_by=compliance_user)
    bid_place(actor=bidder, auction_id=busy.pk, amount=START)
    end_auction(busy)
    end_auction(free)
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_row, args=(busy.pk, release, held))
    holder.start()
    try:
        assert held.wait(30)
        closed_while_locked = auction_close_sweep()  # would block on busy without skip_locked
        busy_status = Auction.objects.get(pk=busy.pk).status
    finally:
        release.set()
        holder.join(30)

    assert closed_while_locked == 1
    assert busy_status == "open"
    assert Auction.objects.get(pk=free.pk).status == "closed"
    assert auction_close_sweep() == 1  # once released, the next sweep closes it
    assert Auction.objects.get(pk=busy.pk).outcome == "awarded"
