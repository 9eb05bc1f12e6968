"""Request and response shapes of the bidding API.

Input serializers are ``Serializer[None]``: they validate data and are never bound to an
instance; response shapes built as dicts are ``Serializer[dict[str, Any]]``."""

from typing import Any

from rest_framework import serializers

from bidding.models import AuctionFormat, Bid, Registration
from bidding.services.auctions import MAX_PAYMENT_WINDOW_HOURS, MAX_SECONDS
from marketplace.common.money import MoneyInput


class AuctionCreateSerializer(serializers.Serializer[None]):
    package = serializers.IntegerField()
    format = serializers.ChoiceField(choices=AuctionFormat.choices)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    starting_price = MoneyInput()
    min_increment = MoneyInput()
    reserve_price = MoneyInput(required=False, allow_null=True, allow_blank=True)
    deposit_amount = MoneyInput()
    # The bounds the service enforces (bidding.services.auctions), stated so the schema has them.
    soft_close_seconds = serializers.IntegerField(
        required=False, default=300, min_value=0, max_value=MAX_SECONDS
    )
    extension_seconds = serializers.IntegerField(
        required=False, default=300, min_value=0, max_value=MAX_SECONDS
    )
    payment_window_hours = serializers.IntegerField(
        required=False, default=72, min_value=0, max_value=MAX_PAYMENT_WINDOW_HOURS
    )


class AuctionSerializer(serializers.Serializer[dict[str, Any]]):
    """Per-caller view of an auction (API.md): prices only to registered buyers, the seller and
    the platform; the reserve never to buyers; the winner to the seller, platform and winner."""

    id = serializers.IntegerField()
    package = serializers.IntegerField()
    seller = serializers.IntegerField()
    format = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.CharField(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    original_ends_at = serializers.DateTimeField()
    starting_price = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    min_increment = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    reserve_price = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        allow_null=True,
        required=False,
        help_text="Seller and platform only; never shown to buyers.",
    )
    deposit_amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    soft_close_seconds = serializers.IntegerField()
    extension_seconds = serializers.IntegerField()
    payment_window_hours = serializers.IntegerField()
    bid_count = serializers.IntegerField(
        allow_null=True,
        help_text="Null where the caller may not see every bid: on a sealed auction before its "
        "close (cancelled included), to its buyers and its seller.",
    )
    current_price = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    minimum_next_bid = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    reserve_met = serializers.BooleanField(allow_null=True)
    is_leading = serializers.BooleanField()
    registration = serializers.DictField(allow_null=True, help_text="The caller's registration.")
    winner = serializers.DictField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class RegistrationCreateSerializer(serializers.Serializer[None]):
    accept_nda = serializers.BooleanField()


class RegistrationSerializer(serializers.ModelSerializer[Registration]):
    buyer = serializers.SerializerMethodField()

    class Meta:
        model = Registration
        fields = [
            "id",
            "auction",
            "buyer",
            "status",
            "deposit_amount",
            "deposit_status",
            "nda_accepted_at",
            "deposit_confirmed_at",
            "created_at",
        ]

    def get_buyer(self, registration: Registration) -> dict[str, Any]:
        return {"id": registration.buyer_id, "name": registration.buyer.name}


class BidCreateSerializer(serializers.Serializer[None]):
    amount = MoneyInput()


class BidSerializer(serializers.Serializer[Bid]):
    id = serializers.IntegerField()
    auction = serializers.IntegerField(source="auction_id")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    placed_at = serializers.DateTimeField()
    sequence = serializers.IntegerField()


class BidListItemSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2)
    placed_at = serializers.DateTimeField()
    sequence = serializers.IntegerField()
    bidder = serializers.CharField(help_text="Organisation name (seller, platform) or alias.")
    mine = serializers.BooleanField()
