from django.contrib import admin

from bidding.models import Auction, Bid, PackageBar, Registration
from listings.admin import ReadOnlyAdmin


@admin.register(Auction)
class AuctionAdmin(ReadOnlyAdmin[Auction]):
    list_display = [
        "id",
        "package",
        "format",
        "status",
        "outcome",
        "starts_at",
        "ends_at",
        "bid_count",
        "current_price",
    ]
    list_filter = ["status", "format", "outcome"]


@admin.register(Registration)
class RegistrationAdmin(ReadOnlyAdmin[Registration]):
    list_display = ["id", "auction", "buyer", "status", "deposit_amount", "deposit_status"]
    list_filter = ["status", "deposit_status"]


@admin.register(Bid)
class BidAdmin(ReadOnlyAdmin[Bid]):
    list_display = ["auction", "sequence", "buyer", "amount", "placed_at"]


@admin.register(PackageBar)
class PackageBarAdmin(ReadOnlyAdmin[PackageBar]):
    list_display = ["package", "buyer", "reason", "created_at"]
