"""Auctions, registrations (NDA and deposit) and bids."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.common.money import money_field


class AuctionFormat(models.TextChoices):
    ENGLISH = "english"
    SEALED = "sealed"


class AuctionStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class AuctionOutcome(models.TextChoices):
    AWARDED = "awarded"
    NO_SALE = "no_sale"


# The auction workflow (API.md): transition -> (allowed from, to).
AUCTION_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "open": (frozenset({AuctionStatus.SCHEDULED}), AuctionStatus.OPEN),
    "close": (frozenset({AuctionStatus.OPEN}), AuctionStatus.CLOSED),
    "cancel": (frozenset({AuctionStatus.SCHEDULED, AuctionStatus.OPEN}), AuctionStatus.CANCELLED),
}
ACTIVE_STATUSES = frozenset({AuctionStatus.SCHEDULED, AuctionStatus.OPEN})


class Auction(models.Model):
    package = models.ForeignKey(
        "listings.Package", on_delete=models.PROTECT, related_name="auctions"
    )
    seller = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="auctions_sold"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    format = models.CharField(max_length=8, choices=AuctionFormat.choices)
    status = models.CharField(
        max_length=12, choices=AuctionStatus.choices, default=AuctionStatus.SCHEDULED
    )
    outcome = models.CharField(max_length=8, choices=AuctionOutcome.choices, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="Current end, after soft-close extensions.")
    original_ends_at = models.DateTimeField()
    starting_price = money_field()
    min_increment = money_field()
    reserve_price = money_field(null=True, blank=True)
    deposit_amount = money_field()
    soft_close_seconds = models.PositiveIntegerField(default=300)
    extension_seconds = models.PositiveIntegerField(default=300)
    payment_window_hours = models.PositiveIntegerField(default=72)
    # The state of the bidding, maintained by bid_place under the auction's row lock.
    bid_count = models.PositiveIntegerField(default=0)
    current_price = money_field(null=True, blank=True)
    leading_bid = models.ForeignKey(
        "Bid", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The leading bid's buyer, kept beside it so the bid path needs no extra read.
    leading_buyer = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    winning_bid = models.ForeignKey(
        "Bid", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    winner = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="auctions_won",
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AuctionStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=AuctionFormat.values),
                name="%(app_label)s_%(class)s_format_valid",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")) & Q(original_ends_at__gt=F("starts_at")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(starting_price__gt=0)
                & Q(min_increment__gt=0)
                & Q(deposit_amount__gte=0),
                name="%(app_label)s_%(class)s_amounts_positive",
            ),
            models.CheckConstraint(
                condition=Q(reserve_price__isnull=True) | Q(reserve_price__gte=F("starting_price")),
                name="%(app_label)s_%(class)s_reserve_gte_start",
            ),
            models.CheckConstraint(
                condition=Q(payment_window_hours__lte=720),
                name="%(app_label)s_%(class)s_payment_window",
            ),
            models.CheckConstraint(
                condition=Q(status=AuctionStatus.CLOSED) | Q(outcome=""),
                name="%(app_label)s_%(class)s_outcome_only_closed",
            ),
            # At most one live auction per package.
            models.UniqueConstraint(
                fields=["package"],
                condition=Q(status__in=[AuctionStatus.SCHEDULED, AuctionStatus.OPEN]),
                name="%(app_label)s_%(class)s_one_active_per_package",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "starts_at"], name="auction_status_starts_idx"),
            models.Index(fields=["status", "ends_at"], name="auction_status_ends_idx"),
        ]

    def __str__(self) -> str:
        return f"auction #{self.pk} ({self.format}, {self.status})"


class RegistrationStatus(models.TextChoices):
    PENDING_DEPOSIT = "pending_deposit"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"


class DepositStatus(models.TextChoices):
    NONE = "none"  # nothing posted yet, or no deposit required
    HELD = "held"
    RELEASED = "released"
    APPLIED = "applied"
    FORFEITED = "forfeited"


class Registration(models.Model):
    auction = models.ForeignKey(Auction, on_delete=models.PROTECT, related_name="registrations")
    buyer = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="registrations"
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=16,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.PENDING_DEPOSIT,
    )
    deposit_amount = money_field()
    deposit_status = models.CharField(
        max_length=12, choices=DepositStatus.choices, default=DepositStatus.NONE
    )
    nda_accepted_at = models.DateTimeField()
    deposit_confirmed_at = models.DateTimeField(null=True, blank=True)
    # "Bidder N" on an English auction, in order of first bid.
    alias_number = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["auction", "buyer"], name="%(app_label)s_%(class)s_one_per_buyer"
            ),
            models.UniqueConstraint(
                fields=["auction", "alias_number"], name="%(app_label)s_%(class)s_alias_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(deposit_amount__gte=0),
                name="%(app_label)s_%(class)s_deposit_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"registration #{self.pk} of {self.buyer_id} on auction {self.auction_id}"


class Bid(models.Model):
    auction = models.ForeignKey(Auction, on_delete=models.PROTECT, related_name="bids")
    registration = models.ForeignKey(Registration, on_delete=models.PROTECT, related_name="bids")
    buyer = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount = money_field()
    placed_at = models.DateTimeField()
    sequence = models.PositiveIntegerField()

    class Meta:
        ordering = ["auction", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["auction", "sequence"], name="%(app_label)s_%(class)s_sequence_unique"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="%(app_label)s_%(class)s_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1), name="%(app_label)s_%(class)s_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"bid #{self.sequence} on auction {self.auction_id}: {self.amount}"


class PackageBar(models.Model):
    """A buyer barred from a package (after defaulting on it): it may not register again."""

    package = models.ForeignKey("listings.Package", on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "buyer"], name="%(app_label)s_%(class)s_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.buyer_id} barred from package {self.package_id}"
