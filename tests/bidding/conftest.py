"""Fixtures and helpers of the bidding tests.

Auctions, registrations and bids are set up through bidding's services (the code under test),
packages and organisations through the ORM. Time is moved by rewriting ``starts_at`` /
``ends_at`` in the database, never by mocking the clock: the services read the server clock
after taking the auction's row lock, exactly as in production.

In ordinary ``django_db`` tests the test transaction never commits, so the open/close messages
that services enqueue with ``transaction.on_commit`` are never sent to the broker.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bidding.models import Auction, Bid, Registration
from bidding.services.auctions import AuctionTerms, auction_create
from bidding.services.registrations import (
    registration_confirm_deposit,
    registration_create,
)
from listings.models import Package
from marketplace.audit.models import AuditEvent
from marketplace.outbox import relay as outbox_relay
from tests.conftest import client_for
from tests.factories import make_bidder
from tests.support import assert_problem, end_auction, make_package

# Re-exported: the modules of this folder import these from here.
__all__ = ["assert_problem", "end_auction", "make_bidder", "make_package"]

START = Decimal("1000000.00")
INCREMENT = Decimal("10000.00")
RESERVE = Decimal("1100000.00")
DEPOSIT = Decimal("50000.00")


# --------------------------------------------------------------------------- builders


def make_auction(
    seller_user,
    package: Package | None = None,
    *,
    format: str = "english",  # the API's field name
    starts_in: dt.timedelta = dt.timedelta(0),
    ends_in: dt.timedelta = dt.timedelta(hours=1),
    **terms,
) -> Auction:
    """An auction through ``auction_create`` (the package is created when not given)."""
    package = package or make_package(seller_user, status="approved", title="Consumer NPLs")
    now = timezone.now()
    values = {
        "starting_price": START,
        "min_increment": INCREMENT,
        "reserve_price": RESERVE,
        "deposit_amount": DEPOSIT,
        **terms,
    }
    terms = AuctionTerms(format=format, starts_at=now + starts_in, ends_at=now + ends_in, **values)
    return auction_create(actor=seller_user, package_id=package.pk, terms=terms)


def register(user, auction: Auction, *, confirmed_by=None) -> Registration:
    """Register ``user``'s organisation (NDA accepted); confirm its deposit when
    ``confirmed_by`` (a platform user) is given."""
    registration = registration_create(actor=user, auction_id=auction.pk, accept_nda=True)
    if confirmed_by is not None:
        registration = registration_confirm_deposit(
            actor=confirmed_by, registration_id=registration.pk
        )
    return registration


def bid_url(auction) -> str:
    return f"/api/v1/auctions/{_pk(auction)}/bids/"


def auction_url(auction) -> str:
    return f"/api/v1/auctions/{_pk(auction)}/"


def _pk(auction) -> int:
    return auction if isinstance(auction, int) else auction.pk


def post_bid(client, auction, amount):
    return client.post(bid_url(auction), {"amount": amount}, format="json")


def actions_of(auction: Auction, action: str | None = None) -> list[AuditEvent]:
    """Audit events of the auction's stream, in order (optionally one action only)."""
    events = AuditEvent.objects.filter(object_type="auction", object_id=str(auction.pk))
    if action is not None:
        events = events.filter(action=action)
    return list(events.order_by("sequence"))


def bidding_state(auction: Auction) -> dict:
    """Everything a refused bid must leave exactly as it was."""
    fresh = Auction.objects.get(pk=auction.pk)
    return {
        "status": fresh.status,
        "bid_count": fresh.bid_count,
        "current_price": fresh.current_price,
        "leading_bid": fresh.leading_bid_id,
        "ends_at": fresh.ends_at,
        "bids": list(Bid.objects.filter(auction=auction).values_list("pk", flat=True)),
        "bid_events": len(actions_of(auction, "bid.placed")),
        "extended_events": len(actions_of(auction, "auction.extended")),
        "aliases": list(
            Registration.objects.filter(auction=auction)
            .order_by("pk")
            .values_list("alias_number", flat=True)
        ),
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def approved_package(seller_user) -> Package:
    return make_package(seller_user, status="approved", title="Consumer NPLs")


@pytest.fixture
def english_auction(seller_user) -> Auction:
    """Open now, ends in an hour; start 1,000,000, increment 10,000, reserve 1,100,000,
    deposit 50,000; default soft close (300 s / 300 s) and payment window (72 h)."""
    return make_auction(seller_user)


@pytest.fixture
def sealed_auction(seller_user) -> Auction:
    return make_auction(seller_user, format="sealed")


@pytest.fixture
def scheduled_auction(seller_user) -> Auction:
    """Starts in an hour."""
    return make_auction(seller_user, starts_in=dt.timedelta(hours=1), ends_in=dt.timedelta(hours=2))


@pytest.fixture
def registered_bidder(compliance_user):
    """``registered_bidder(auction, name=...)``: a bidder of a new approved buyer, registered on
    the auction with its deposit confirmed by compliance."""

    def make(auction: Auction, *, confirmed: bool = True, **buyer):
        user = make_bidder(**buyer)
        register(user, auction, confirmed_by=compliance_user if confirmed else None)
        return user

    return make


@pytest.fixture
def english_bidders(english_auction, registered_bidder):
    """Three registered, confirmed bidders on the English auction, named Alpha, Beta, Gamma."""
    return [
        registered_bidder(english_auction, name=name)
        for name in ("Alpha Capital", "Beta AMC", "Gamma Investments")
    ]


@pytest.fixture
def clients():
    """``clients(user)``: an authenticated API client, cached per user within the test."""
    cache: dict[int, object] = {}

    def get(user):
        if user.pk not in cache:
            cache[user.pk] = client_for(user)
        return cache[user.pk]

    return get


@pytest.fixture
def sent_tasks(monkeypatch):
    """Record, instead of sending, the messages bidding publishes after commit."""
    sent: list[tuple[str, list, dt.datetime]] = []

    class Recorder:
        def send_task(self, name, args=None, eta=None, **kwargs):
            sent.append((name, list(args or []), eta))

    # They leave through the task outbox's publisher (the on-commit kick or the relay).
    monkeypatch.setattr(outbox_relay, "current_app", Recorder())
    return sent
