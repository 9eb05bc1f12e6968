"""Ending an auction: the close at its end (exactly once, with the award), or a cancel before it.
Either settles the held deposits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from bidding import rules
from bidding.codes import AuditAction
from bidding.models import (
    ACTIVE_STATUSES,
    Auction,
    AuctionOutcome,
    AuctionStatus,
    Bid,
    DepositStatus,
    Registration,
)
from bidding.services.auctions import auction_transition, open_if_due
from bidding.services.trail import auction_record, deposit_record
from bidding.stream.publish import auction_stream_changed
from listings import services as listing_services
from marketplace.accounts.models import User
from marketplace.common.atomic import require_atomic
from marketplace.common.errors import Forbidden, InvalidState
from marketplace.ledger import movements

# What a held deposit becomes when an auction ends, and the action that records it.
DEPOSIT_SETTLED_ACTIONS: Mapping[str, AuditAction] = {
    DepositStatus.APPLIED: AuditAction.DEPOSIT_APPLIED,
    DepositStatus.RELEASED: AuditAction.DEPOSIT_RELEASED,
}


@dataclass
class CloseResult:
    auction: Auction
    closed_now: bool
    awarded: bool


def auction_close(*, auction_id: int) -> CloseResult:
    """Close an auction whose (extended) end has come, exactly once.

    Locks the auction row and re-checks after the lock: an auction already closed or
    cancelled, or not yet at its current end, is left alone (``closed_now`` False), so repeated
    and concurrent runs are harmless. Decides the outcome (``rules.award``: the highest bid, ties
    to the earliest, awarded when it meets the reserve, else no sale), marks the winner's
    deposit to be applied and the others released, returns the package to the market on no sale,
    and records ``auction.closed``. Must run inside the caller's transaction when a settlement
    is to be opened from the result (the close task does both in one transaction)."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        now = timezone.now()
        if auction.status not in ACTIVE_STATUSES or now < auction.ends_at:
            return CloseResult(auction, False, auction.outcome == AuctionOutcome.AWARDED)
        if auction.status == AuctionStatus.SCHEDULED:
            open_if_due(auction, now)
        # Every bid of the auction, read once at its close: the rule decides, not an ORDER BY.
        bids = Bid.objects.filter(auction=auction)
        winning = rules.award(bids, reserve_price=auction.reserve_price)
        auction_transition(auction, "close")
        auction.closed_at = now
        auction.outcome = AuctionOutcome.AWARDED if winning is not None else AuctionOutcome.NO_SALE
        if winning is not None:
            auction.winning_bid = winning
            auction.winner_id = winning.buyer_id
        auction.save()
        for registration in _held_deposits(auction):
            won = winning is not None and registration.buyer_id == winning.buyer_id
            status = DepositStatus.APPLIED if won else DepositStatus.RELEASED
            deposit_settle(registration, actor=None, status=status)
        if winning is None:
            listing_services.package_transition(
                actor=None,
                package_id=auction.package_id,
                name="return_to_market",
                data={"auction_id": auction.pk, "reason": "no_sale"},
            )
        _record_closed(auction, winning)
    return CloseResult(auction, True, winning is not None)


def _record_closed(auction: Auction, winning: Bid | None) -> None:
    auction_stream_changed(auction.pk)
    auction_record(
        auction.pk,
        AuditAction.AUCTION_CLOSED,
        actor=None,
        data={
            "outcome": auction.outcome,
            "bid_count": auction.bid_count,
            "winning_bid_id": winning.pk if winning is not None else None,
            "price": winning.amount if winning is not None else None,
            "winner_id": winning.buyer_id if winning is not None else None,
            "reserve_met": winning is not None,
        },
    )


def auction_cancel(*, actor: User, auction_id: int, reason: str = "") -> Auction:
    """Seller or compliance cancel a scheduled or open auction: deposits released, package back
    to approved. Locks the auction row, then its registrations in primary-key order. A sealed
    auction's bids stay sealed (``rules.bids_revealed``)."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        is_seller = auction.seller_id == actor.organization_id
        if not (is_seller or getattr(actor, "role", "") == "compliance_officer"):
            raise Forbidden("Only the seller or compliance cancel an auction.")
        now = timezone.now()
        if auction.status in ACTIVE_STATUSES and now >= auction.ends_at:
            # Its end has come: it is closed (and possibly awarded) exactly once, not cancelled
            # in the moment before the close task runs (DESIGN.md, Invariant 3).
            raise InvalidState(
                "The auction has reached its end and is being closed.",
                extra={"current_status": auction.status},
            )
        previous = auction_transition(auction, "cancel")
        auction.cancelled_at = now
        auction.save(update_fields=["status", "cancelled_at"])
        for registration in _held_deposits(auction):
            deposit_settle(
                registration,
                actor=actor,
                status=DepositStatus.RELEASED,
                reason="cancelled",
            )
        listing_services.package_transition(
            actor=actor,
            package_id=auction.package_id,
            name="return_to_market",
            data={"auction_id": auction.pk, "reason": "cancelled"},
        )
        auction_record(
            auction.pk,
            AuditAction.AUCTION_CANCELLED,
            actor=actor,
            data={"from": previous, "reason": reason},
        )
        auction_stream_changed(auction.pk)
    return auction


def _held_deposits(auction: Auction) -> QuerySet[Registration]:
    """The registrations whose deposit the platform holds, locked in primary-key order."""
    return (
        Registration.objects.select_for_update()
        .filter(auction=auction, deposit_status=DepositStatus.HELD)
        .order_by("pk")
    )


def deposit_settle(
    registration: Registration, *, actor: User | None, status: str, reason: str = ""
) -> None:
    """A held deposit becomes applied or released, and ``deposit.applied`` or
    ``deposit.released`` is recorded. A release is posted to the ledger here; an application
    is posted by settlement's ``settlement_open`` in the same close transaction, which knows
    the settlement it pays. The caller's transaction holds the auction's row lock and the
    registration's."""
    require_atomic("bidding.deposit_settle")
    action = DEPOSIT_SETTLED_ACTIONS[status]
    registration.deposit_status = status
    registration.save(update_fields=["deposit_status"])
    deposit_record(action, registration, actor=actor, reason=reason)
    if status == DepositStatus.RELEASED:
        movements.deposit_released(
            buyer_id=registration.buyer_id,
            amount=registration.deposit_amount,
            registration_id=registration.pk,
        )
