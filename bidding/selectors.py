"""Reads of bidding, scoped to what the caller may see (API.md, Visibility)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from bidding import rules
from bidding.errors import NotRegistered
from bidding.models import Auction, AuctionStatus, Bid, Registration
from listings.selectors import package_visible_to
from marketplace.accounts.models import User
from marketplace.common.permissions import is_platform


def auction_visible_to(*, user: User) -> QuerySet[Auction]:
    """Auctions of the packages the caller may see."""
    return Auction.objects.filter(
        package__in=package_visible_to(user=user).values("pk")
    ).select_related("winning_bid", "winner")


def registration_of(*, auction: Auction, organization_id: int | None) -> Registration | None:
    return Registration.objects.filter(auction=auction, buyer_id=organization_id).first()


def registrations_visible_to(*, user: User, auction: Auction) -> QuerySet[Registration]:
    qs = Registration.objects.filter(auction=auction).select_related("buyer").order_by("id")
    if is_platform(user) or auction.seller_id == user.organization_id:
        return qs
    return qs.filter(buyer_id=user.organization_id)


def bids_of(*, auction: Auction) -> QuerySet[Bid]:
    return Bid.objects.filter(auction=auction).select_related("buyer").order_by("sequence")


def auctions_due_to_open() -> list[int]:
    return list(
        Auction.objects.filter(status=AuctionStatus.SCHEDULED, starts_at__lte=timezone.now())
        .order_by("starts_at")
        .values_list("id", flat=True)
    )


def auctions_due_to_close() -> list[int]:
    return list(
        Auction.objects.filter(
            status__in=[AuctionStatus.SCHEDULED, AuctionStatus.OPEN], ends_at__lte=timezone.now()
        )
        .order_by("ends_at")
        .values_list("id", flat=True)
    )


LOOK_UP = object()  # auction_view: "find the caller's registration yourself"


def registrations_of_caller(*, user: User, auctions: Iterable[Auction]) -> dict[int, Registration]:
    """The caller organisation's registrations on these auctions, by auction id (one query)."""
    if is_platform(user):
        return {}
    return {
        r.auction_id: r
        for r in Registration.objects.filter(
            auction__in=[a.pk for a in auctions], buyer_id=user.organization_id
        )
    }


def _viewer(
    *, user: User, auction: Auction, registration: Registration | object | None = LOOK_UP
) -> tuple[rules.Viewer, Registration | None]:
    """The caller relative to the auction (``rules.Viewer``), and its registration there (none
    for the seller and the platform). Looks the registration up unless it is given."""
    org_id = user.organization_id
    platform = is_platform(user)
    seller = auction.seller_id == org_id
    found: Registration | None = None
    if not (platform or seller):
        if registration is LOOK_UP:
            found = registration_of(auction=auction, organization_id=org_id)
        elif isinstance(registration, Registration):
            found = registration
    viewer = rules.Viewer(
        organization_id=org_id, platform=platform, seller=seller, registered=found is not None
    )
    return viewer, found


def auction_disclosed_to(*, user: User, auction: Auction) -> rules.Disclosure:
    """Which of the auction's fields the caller sees (``rules.disclosure``): the live stream
    sends ``price`` messages to those who see the price."""
    viewer, _ = _viewer(user=user, auction=auction)
    return rules.disclosure(viewer, auction)


def auction_view(
    *, user: User, auction: Auction, registration: Registration | object | None = LOOK_UP
) -> dict[str, Any]:
    """The auction as the caller may see it (``rules.disclosure``, API.md "Auctions"): prices
    only to registered buyers, the seller and the platform; the reserve (key absent otherwise)
    only to the seller and the platform; the winner to the seller, the platform and the winner;
    the bid count only to those who see every bid (not, on a sealed auction before its close,
    to its buyers or its seller)."""
    viewer, registration = _viewer(user=user, auction=auction, registration=registration)
    shown = rules.disclosure(viewer, auction)
    view = {
        "id": auction.pk,
        "package": auction.package_id,
        "seller": auction.seller_id,
        "format": auction.format,
        "status": auction.status,
        "outcome": auction.outcome or None,
        "starts_at": auction.starts_at,
        "ends_at": auction.ends_at,
        "original_ends_at": auction.original_ends_at,
        "starting_price": auction.starting_price if shown.terms else None,
        "min_increment": auction.min_increment if shown.terms else None,
        "deposit_amount": auction.deposit_amount,
        "soft_close_seconds": auction.soft_close_seconds,
        "extension_seconds": auction.extension_seconds,
        "payment_window_hours": auction.payment_window_hours,
        "bid_count": auction.bid_count if shown.bid_count else None,
        "current_price": auction.current_price if shown.price else None,
        "minimum_next_bid": rules.minimum_bid(auction) if shown.minimum_next_bid else None,
        "reserve_met": (
            rules.meets_reserve(auction.current_price, auction.reserve_price)
            if shown.price
            else None
        ),
        "is_leading": shown.is_leading,
        "registration": _registration_view(registration),
        "winner": _winner_view(auction) if shown.winner else None,
        "closed_at": auction.closed_at,
        "created_at": auction.created_at,
    }
    if shown.reserve_price:
        view["reserve_price"] = auction.reserve_price
    return view


def _registration_view(registration: Registration | None) -> dict[str, Any] | None:
    if registration is None:
        return None
    return {
        "id": registration.pk,
        "status": registration.status,
        "deposit_status": registration.deposit_status,
    }


def _winner_view(auction: Auction) -> dict[str, Any]:
    winner, winning_bid = auction.winner, auction.winning_bid
    # Shown only once there is a winner (rules.auction_fields); closing sets both together.
    assert winner is not None and winning_bid is not None
    return {
        "id": auction.winner_id,
        "name": winner.name,
        "price": str(winning_bid.amount),
    }


def bids_visible_to(*, user: User, auction: Auction) -> list[dict[str, Any]]:
    """The bids as the caller may see them (``rules.bid_scope``, API.md "Bids"): English,
    registered buyers see all under stable aliases ("Bidder N" in order of first bid) and the
    seller and platform see names; sealed, until it closes (cancelled included) a buyer sees
    its own, the seller none and the platform all; after its close, everyone all.
    Raises NotRegistered for a buyer outside the auction (unless a closed sealed one)."""
    viewer, _ = _viewer(user=user, auction=auction)
    if not rules.may_list_bids(viewer, auction):
        raise NotRegistered("Register for the auction to see its bids.")
    scope = rules.bid_scope(viewer, auction)
    bids = [
        b for b in bids_of(auction=auction) if rules.shows_bid(viewer, scope, buyer_id=b.buyer_id)
    ]
    names = rules.shows_bidder_names(viewer)
    aliases = rules.aliases(b.buyer_id for b in bids)
    return [
        {
            "id": bid.pk,
            "amount": str(bid.amount),
            "placed_at": bid.placed_at,
            "sequence": bid.sequence,
            "bidder": bid.buyer.name if names else aliases[bid.buyer_id],
            "mine": bid.buyer_id == viewer.organization_id,
        }
        for bid in bids
    ]
