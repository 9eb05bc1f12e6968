"""Reads of bidding, scoped to what the caller may see (API.md, Visibility)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from bidding.models import Auction, AuctionFormat, AuctionStatus, Bid, Registration
from listings.selectors import package_visible_to
from marketplace.common.permissions import is_platform


def auction_visible_to(*, user) -> QuerySet[Auction]:
    """Auctions of the packages the caller may see."""
    return Auction.objects.filter(
        package__in=package_visible_to(user=user).values("pk")
    ).select_related("winning_bid", "winner")


def registration_of(*, auction: Auction, organization_id) -> Registration | None:
    return Registration.objects.filter(auction=auction, buyer_id=organization_id).first()


def registrations_visible_to(*, user, auction: Auction) -> QuerySet[Registration]:
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


def registrations_of_caller(*, user, auctions) -> dict[int, Registration]:
    """The caller organisation's registrations on these auctions, by auction id (one query)."""
    if is_platform(user):
        return {}
    return {
        r.auction_id: r
        for r in Registration.objects.filter(
            auction__in=[a.pk for a in auctions], buyer_id=user.organization_id
        )
    }


def auction_view(*, user, auction: Auction, registration=LOOK_UP) -> dict:
    """The auction as the caller may see it (API.md, Auctions): prices only to registered
    buyers, the seller and the platform; the reserve (key absent otherwise) only to the seller
    and the platform; the winner to the seller, the platform and the winner."""
    org_id = user.organization_id
    platform = is_platform(user)
    seller = auction.seller_id == org_id
    if platform or seller:
        registration = None
    elif registration is LOOK_UP:
        registration = registration_of(auction=auction, organization_id=org_id)
    insider = platform or seller or registration is not None
    english = auction.format == AuctionFormat.ENGLISH
    has_leader = auction.leading_bid_id is not None
    minimum_next = None
    if english and auction.status in (AuctionStatus.SCHEDULED, AuctionStatus.OPEN):
        minimum_next = (
            auction.current_price + auction.min_increment if has_leader else auction.starting_price
        )
    reserve_met = None
    if english:
        reserve_met = has_leader and (
            auction.reserve_price is None or auction.current_price >= auction.reserve_price
        )
    winner = None
    if (
        auction.status == AuctionStatus.CLOSED
        and auction.winner_id is not None
        and (platform or seller or auction.winner_id == org_id)
    ):
        winner = {
            "id": auction.winner_id,
            "name": auction.winner.name,
            "price": str(auction.winning_bid.amount),
        }
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
        "starting_price": auction.starting_price if insider else None,
        "min_increment": auction.min_increment if insider else None,
        "deposit_amount": auction.deposit_amount,
        "soft_close_seconds": auction.soft_close_seconds,
        "extension_seconds": auction.extension_seconds,
        "payment_window_hours": auction.payment_window_hours,
        "bid_count": auction.bid_count,
        "current_price": auction.current_price if (english and insider) else None,
        "minimum_next_bid": minimum_next if insider else None,
        "reserve_met": reserve_met if insider else None,
        "is_leading": bool(
            has_leader
            and auction.leading_buyer_id == org_id
            and not seller
            and (english or auction.status == AuctionStatus.CLOSED)
        ),
        "registration": (
            {
                "id": registration.pk,
                "status": registration.status,
                "deposit_status": registration.deposit_status,
            }
            if registration is not None
            else None
        ),
        "winner": winner,
        "closed_at": auction.closed_at,
        "created_at": auction.created_at,
    }
    if platform or seller:
        view["reserve_price"] = auction.reserve_price
    return view


def bids_visible_to(*, user, auction: Auction) -> list[dict]:
    """The bids as the caller may see them (API.md, Bids): English, registered buyers see all
    under stable aliases ("Bidder N" in order of first bid) and the seller and platform see
    names; sealed, before close a buyer sees its own and the seller none, after close all.
    Raises NotRegistered for a buyer outside the auction (unless a closed sealed one)."""
    from bidding.services import NotRegistered

    org_id = user.organization_id
    platform = is_platform(user)
    seller = auction.seller_id == org_id
    sealed = auction.format == AuctionFormat.SEALED
    closed = auction.status in (AuctionStatus.CLOSED, AuctionStatus.CANCELLED)
    revealed = sealed and auction.status == AuctionStatus.CLOSED
    if not (platform or seller or revealed) and (
        registration_of(auction=auction, organization_id=org_id) is None
    ):
        raise NotRegistered("Register for the auction to see its bids.")
    bids = list(bids_of(auction=auction))
    if sealed and not closed:
        if seller:
            bids = []
        elif not platform:
            bids = [b for b in bids if b.buyer_id == org_id]
    aliases: dict[int, str] = {}
    for bid in bids:
        aliases.setdefault(bid.buyer_id, f"Bidder {len(aliases) + 1}")
    return [
        {
            "id": bid.pk,
            "amount": str(bid.amount),
            "placed_at": bid.placed_at,
            "sequence": bid.sequence,
            "bidder": bid.buyer.name if (platform or seller) else aliases[bid.buyer_id],
            "mine": bid.buyer_id == org_id,
        }
        for bid in bids
    ]
