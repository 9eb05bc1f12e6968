"""Reads of bidding, scoped to what the caller may see (API.md, Visibility)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from bidding.models import Auction, AuctionStatus, Bid, Registration
from listings.selectors import package_visible_to
from marketplace.common.permissions import is_platform


def auction_visible_to(*, user) -> QuerySet[Auction]:
    """Auctions of the packages the caller may see."""
    return Auction.objects.filter(
        package__in=package_visible_to(user=user).values("pk")
    ).select_related("leading_bid", "winning_bid", "winner", "package")


def registration_of(*, auction: Auction, organization_id) -> Registration | None:
    return Registration.objects.filter(auction=auction, buyer_id=organization_id).first()


def registrations_visible_to(*, user, auction: Auction) -> QuerySet[Registration]:
    qs = Registration.objects.filter(auction=auction).select_related("buyer").order_by("id")
    if is_platform(user) or auction.seller_id == user.organization_id:
        return qs
    return qs.filter(buyer_id=user.organization_id)


def bids_of(*, auction: Auction) -> QuerySet[Bid]:
    return (
        Bid.objects.filter(auction=auction)
        .select_related("buyer", "registration")
        .order_by("sequence")
    )


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
