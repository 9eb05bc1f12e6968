"""Races on one auction with real threads against the real PostgreSQL (DESIGN.md, Concurrency;
Invariants 2 and 3). Every thread has its own database connection and closes it at the end.

These tests commit for real, so the open/close messages bidding enqueues after commit would go
to the broker: ``sent_tasks`` records them instead (nothing here needs a worker).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from bidding import rules
from bidding.errors import AlreadyLeading, AuctionNotOpen, BidTooLow
from bidding.models import Auction, Bid, Registration
from bidding.services.bids import bid_place
from marketplace.audit.models import AuditEvent
from marketplace.audit.selectors import audit_verify
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.bidding.conftest import actions_of, make_auction, make_bidder, register

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 32
ATTEMPTS = 25
JOIN_TIMEOUT = 120
EXPECTED_REFUSALS = (AuctionNotOpen, BidTooLow, AlreadyLeading)


def run_threads(target, count: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return threads


def minimum_bid(auction_id: int) -> Decimal:
    """What a client would read before bidding: the current minimum, from the database."""
    return rules.minimum_bid(Auction.objects.get(pk=auction_id))


def test_many_bidders_racing_on_one_english_auction(seller_user, compliance_user, sent_tasks):
    auction = make_auction(
        seller_user, starting_price="1000.00", min_increment="10.00", reserve_price=None
    )
    bidders = [make_bidder() for _ in range(THREADS)]
    for bidder in bidders:
        register(bidder, auction, confirmed_by=compliance_user)
    barrier = threading.Barrier(THREADS)
    lock = threading.Lock()
    accepted: list[Bid] = []
    refused: dict[str, int] = {}
    unexpected: list[BaseException] = []

    def work(n: int) -> None:
        rng = random.Random(n)
        try:
            barrier.wait(timeout=60)
            for _ in range(ATTEMPTS):
                amount = minimum_bid(auction.pk) + auction.min_increment * rng.randint(0, 3)
                try:
                    placed = bid_place(actor=bidders[n], auction_id=auction.pk, amount=amount)
                except EXPECTED_REFUSALS as exc:
                    with lock:
                        refused[exc.code] = refused.get(exc.code, 0) + 1
                else:
                    with lock:
                        accepted.append(placed)
        except BaseException as exc:  # reported by the assertions below
            with lock:
                unexpected.append(exc)
        finally:
            connection.close()

    run_threads(work, THREADS)

    assert unexpected == []
    bids = list(Bid.objects.filter(auction=auction).order_by("sequence"))
    count = len(bids)
    assert count == len(accepted) and count + sum(refused.values()) == THREADS * ATTEMPTS
    assert count > THREADS  # enough accepted bids for the ordering checks to mean something
    assert refused.get("bid_too_low", 0) > 0  # the bidders really raced
    assert [b.sequence for b in bids] == list(range(1, count + 1))
    assert bids[0].amount >= auction.starting_price
    for previous, current in itertools.pairwise(bids):
        assert current.amount >= previous.amount + auction.min_increment
        assert current.buyer_id != previous.buyer_id  # a leader never outbids itself
        assert current.placed_at >= previous.placed_at
    auction.refresh_from_db()
    assert auction.bid_count == count
    assert auction.current_price == bids[-1].amount == max(b.amount for b in bids)
    assert auction.leading_bid_id == bids[-1].pk
    assert auction.status == "open" and auction.ends_at == auction.original_ends_at
    bid_events = actions_of(auction, "bid.placed")
    assert [e.data["sequence"] for e in bid_events] == list(range(1, count + 1))
    assert audit_verify(stream=f"auction:{auction.pk}").valid
    # Aliases were handed out once per bidding organisation, 1..k without gaps.
    aliases = sorted(
        Registration.objects.filter(auction=auction, alias_number__isnull=False).values_list(
            "alias_number", flat=True
        )
    )
    assert aliases == list(range(1, len({b.buyer_id for b in bids}) + 1))


@pytest.mark.parametrize(("reserve", "outcome"), [("1000.00", "awarded"), ("5000.00", "no_sale")])
def test_concurrent_closes_close_once(seller_user, compliance_user, sent_tasks, reserve, outcome):
    auction = make_auction(
        seller_user, starting_price="1000.00", min_increment="10.00", reserve_price=reserve
    )
    alpha, beta = make_bidder(), make_bidder()
    for bidder in (alpha, beta):
        register(bidder, auction, confirmed_by=compliance_user)
    bid_place(actor=alpha, auction_id=auction.pk, amount="1000.00")
    bid_place(actor=beta, auction_id=auction.pk, amount="1200.00")
    Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now())
    barrier = threading.Barrier(3)
    results: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(close_and_settle(auction.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    run_threads(work, 3)

    assert errors == [] and results == [outcome] * 3
    auction.refresh_from_db()
    assert auction.status == "closed" and auction.outcome == outcome
    assert len(actions_of(auction, "auction.closed")) == 1
    settlements = Settlement.objects.filter(auction=auction)
    assert settlements.count() == (1 if outcome == "awarded" else 0)
    assert AuditEvent.objects.filter(action="settlement.created").count() == settlements.count()
    released = actions_of(auction, "deposit.released")
    applied = actions_of(auction, "deposit.applied")
    assert len(released) + len(applied) == 2  # each held deposit settled once
    package_events = AuditEvent.objects.filter(
        object_type="package", object_id=str(auction.package_id), action="package.return_to_market"
    )
    assert package_events.count() == (0 if outcome == "awarded" else 1)


def test_no_bid_is_accepted_once_the_end_has_come(seller_user, compliance_user, sent_tasks):
    """Bidders keep bidding while a closer keeps trying to close: every accepted bid was placed
    before the end, and the award is the last accepted bid."""
    auction = make_auction(
        seller_user,
        starting_price="1000.00",
        min_increment="10.00",
        reserve_price=None,
        soft_close_seconds=0,
    )
    bidders = [make_bidder() for _ in range(6)]
    for bidder in bidders:
        register(bidder, auction, confirmed_by=compliance_user)
    Auction.objects.filter(pk=auction.pk).update(ends_at=timezone.now() + dt.timedelta(seconds=1.5))
    barrier = threading.Barrier(len(bidders) + 1)
    errors: list[BaseException] = []
    closes: list[str] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            if n == len(bidders):  # the closer
                deadline = timezone.now() + dt.timedelta(seconds=20)
                while timezone.now() < deadline:
                    closes.append(close_and_settle(auction.pk))
                    if closes[-1] in ("awarded", "no_sale"):
                        return
                    time.sleep(0.02)
                return
            while True:
                try:
                    bid_place(
                        actor=bidders[n], auction_id=auction.pk, amount=minimum_bid(auction.pk)
                    )
                except (BidTooLow, AlreadyLeading):
                    continue
                except AuctionNotOpen:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    run_threads(work, len(bidders) + 1)

    assert errors == []
    auction.refresh_from_db()
    assert auction.status == "closed" and closes[-1] == auction.outcome == "awarded"
    bids = list(Bid.objects.filter(auction=auction).order_by("sequence"))
    assert bids and all(b.placed_at < auction.ends_at for b in bids)
    assert auction.closed_at >= auction.ends_at
    assert auction.winning_bid_id == bids[-1].pk
    assert Settlement.objects.get(auction=auction).price == bids[-1].amount


def test_bids_on_different_auctions_do_not_wait_for_each_other(
    seller_user, compliance_user, sent_tasks
):
    """A transaction holding one auction's row lock does not block a bid on another auction."""
    first = make_auction(seller_user, starting_price="1000.00", reserve_price=None)
    second = make_auction(seller_user, starting_price="1000.00", reserve_price=None)
    bidder = make_bidder()
    for auction in (first, second):
        register(bidder, auction, confirmed_by=compliance_user)
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def hold_first(n: int) -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                Auction.objects.select_for_update().get(pk=first.pk)
                bid_place(actor=bidder, auction_id=first.pk, amount="1000.00")
                holding.set()
                release.wait(30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            holding.set()
            connection.close()

    holder = threading.Thread(target=hold_first, args=(0,), daemon=True)
    holder.start()
    try:
        assert holding.wait(30)
        started = timezone.now()
        placed = bid_place(actor=bidder, auction_id=second.pk, amount="1000.00")
        waited = timezone.now() - started
    finally:
        release.set()
        holder.join(JOIN_TIMEOUT)

    assert errors == []
    assert placed.sequence == 1 and waited < dt.timedelta(seconds=5)
    assert Bid.objects.filter(auction=first).count() == 1
