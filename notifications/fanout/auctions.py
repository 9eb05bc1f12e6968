"""Auctions, bids, registrations and deposits (bidding's actions, on the auction's stream).

Visibility (API.md "Bids"): a bidder is told of its own bid; the seller of an English auction's
bids (a sealed auction's bids stay secret from everyone but their bidder until it closes); the
previous leader that it was outbid, never by whom; registered buyers of an auction's opening,
extension, close and cancel; approved buyers of a new auction, without its prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bidding.codes import AuditAction as Bidding
from bidding.models import Auction, Bid, Registration, RegistrationStatus
from marketplace.accounts.models import Eligibility, Organization, OrganizationKind
from marketplace.audit.models import AuditEvent
from notifications.catalog import EventType
from notifications.fanout import Notice, handles, pick, platform_ids, to_all
from settlement.codes import AuditAction as Settlement


def _auction(auction_id: int) -> dict[str, Any]:
    return dict(
        Auction.objects.values("seller_id", "format", "package_id", "winner_id").get(pk=auction_id)
    )


def registered_buyers(auction_id: int) -> list[int]:
    return list(
        Registration.objects.filter(auction_id=auction_id)
        .exclude(status=RegistrationStatus.WITHDRAWN)
        .order_by("buyer_id")
        .values_list("buyer_id", flat=True)
    )


def _insiders(auction: dict[str, Any]) -> list[int]:
    return [auction["seller_id"], *platform_ids()]


@handles(Bidding.AUCTION_CREATED)
def auction_created(event: AuditEvent) -> Iterable[Notice]:
    auction_id = int(event.object_id)
    auction = _auction(auction_id)
    full = {"auction_id": auction_id, **event.data}
    public = pick(
        full, "auction_id", "package_id", "format", "starts_at", "ends_at", "deposit_amount"
    )
    buyers = Organization.objects.filter(
        kind=OrganizationKind.BUYER, eligibility=Eligibility.APPROVED
    ).values_list("pk", flat=True)
    return [
        *to_all(EventType.AUCTION_CREATED, _insiders(auction), full),
        *to_all(EventType.AUCTION_CREATED, buyers, public),
    ]


@handles(Bidding.AUCTION_OPENED, Bidding.AUCTION_EXTENDED, Bidding.AUCTION_CANCELLED)
def auction_moved(event: AuditEvent) -> Iterable[Notice]:
    auction_id = int(event.object_id)
    auction = _auction(auction_id)
    data: dict[str, Any] = {"auction_id": auction_id}
    if event.action == Bidding.AUCTION_EXTENDED:
        data["ends_at"] = event.data.get("to")
    recipients = [*_insiders(auction), *registered_buyers(auction_id)]
    return to_all(event.action, recipients, data)


@handles(Bidding.AUCTION_CLOSED)
def auction_closed(event: AuditEvent) -> Iterable[Notice]:
    """Everyone registered learns the outcome; the seller and the platform the winner and
    price; the winner ``auction.won`` with its price; every other bidder ``auction.lost``."""
    auction_id = int(event.object_id)
    auction = _auction(auction_id)
    outcome = {"auction_id": auction_id, "outcome": event.data.get("outcome")}
    full = {
        **outcome,
        **pick(event.data, "bid_count", "price", "winner_id", winning_bid_id="winning_bid_id"),
    }
    winner = event.data.get("winner_id")
    bidders = set(
        Bid.objects.filter(auction_id=auction_id).values_list("buyer_id", flat=True).distinct()
    )
    notices = [
        *to_all(EventType.AUCTION_CLOSED, _insiders(auction), full),
        *to_all(EventType.AUCTION_CLOSED, registered_buyers(auction_id), outcome),
        *to_all(EventType.AUCTION_LOST, sorted(bidders - {winner}), outcome),
    ]
    if winner is not None:
        won = {"auction_id": auction_id, **pick(event.data, "price", bid_id="winning_bid_id")}
        notices.insert(0, Notice(EventType.AUCTION_WON, int(winner), won))
    return notices


@handles(Bidding.REGISTRATION_CREATED)
def registration_created(event: AuditEvent) -> Iterable[Notice]:
    auction_id = int(event.object_id)
    own = {
        "auction_id": auction_id,
        **pick(event.data, "registration_id", "status", "deposit_amount"),
    }
    buyer = event.actor_organization_id
    return [
        *to_all(EventType.REGISTRATION_CREATED, [buyer], own),
        *to_all(
            EventType.REGISTRATION_CREATED,
            _insiders(_auction(auction_id)),
            {**own, "buyer_id": buyer},
        ),
    ]


@handles(
    Bidding.DEPOSIT_CONFIRMED,
    Bidding.DEPOSIT_RELEASED,
    Bidding.DEPOSIT_APPLIED,
    Settlement.DEPOSIT_FORFEITED,
)
def deposit_moved(event: AuditEvent) -> Iterable[Notice]:
    """The buyer and the platform (which holds deposits); a forfeit also the seller, to whom
    the deposit goes."""
    auction_id = int(event.object_id)
    own = {"auction_id": auction_id, **pick(event.data, "registration_id", "amount")}
    if event.action == Settlement.DEPOSIT_FORFEITED:
        own["settlement_id"] = event.data.get("settlement_id")
    buyer = event.data.get("buyer_id")
    others = platform_ids()
    if event.action == Settlement.DEPOSIT_FORFEITED:
        others.insert(0, _auction(auction_id)["seller_id"])
    return [
        *to_all(event.action, [buyer], own),
        *to_all(event.action, others, {**own, "buyer_id": buyer}),
    ]
