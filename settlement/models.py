"""Settlements of awarded auctions and the registry of the loan transfers that complete them."""

from django.db import models
from django.db.models import F, Q

from marketplace.common.money import money_field


class SettlementStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    COMPLETED = "completed"
    DEFAULTED = "defaulted"


# A bank transfer's remittance reference (SWIFT field 70 holds 4 x 35 characters).
REFERENCE_MAX_LENGTH = 140

# The settlement workflow (API.md): transition name -> (allowed from, to). Services use only this.
SETTLEMENT_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "pay": (frozenset({SettlementStatus.AWAITING_PAYMENT}), SettlementStatus.PAID),
    "default": (frozenset({SettlementStatus.AWAITING_PAYMENT}), SettlementStatus.DEFAULTED),
    "complete": (frozenset({SettlementStatus.PAID}), SettlementStatus.COMPLETED),
}


class Settlement(models.Model):
    auction = models.ForeignKey(
        "bidding.Auction", on_delete=models.PROTECT, related_name="settlements"
    )
    bid = models.ForeignKey("bidding.Bid", on_delete=models.PROTECT, related_name="+")
    package = models.ForeignKey("listings.Package", on_delete=models.PROTECT, related_name="+")
    seller = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    price = money_field()
    deposit_applied = money_field()
    balance_due = money_field()
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=SettlementStatus.choices, default=SettlementStatus.AWAITING_PAYMENT
    )
    # The bank's reference of the buyer's payment, as the platform confirmed it.
    payment_reference = models.CharField(max_length=REFERENCE_MAX_LENGTH, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # An offer to the runner-up: the defaulted settlement of the same auction it replaces.
    runner_up_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One settlement per awarded bid: the award and an offer to the runner-up are
            # different bids of the same auction, never the same one twice.
            models.UniqueConstraint(fields=["bid"], name="%(app_label)s_%(class)s_one_per_bid"),
            # At most one live settlement per auction.
            models.UniqueConstraint(
                fields=["auction"],
                condition=~Q(status="defaulted"),
                name="%(app_label)s_%(class)s_one_live_per_auction",
            ),
            # A defaulted settlement is offered on to one runner-up at most.
            models.UniqueConstraint(
                fields=["runner_up_of"], name="%(app_label)s_%(class)s_one_offer_per_default"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SettlementStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(price__gt=0)
                & Q(deposit_applied__gte=0)
                & Q(balance_due__gte=0)
                & Q(balance_due=F("price") - F("deposit_applied")),
                name="%(app_label)s_%(class)s_amounts_add_up",
            ),
        ]
        indexes = [
            # The default sweep: settlements still awaiting payment, by due time.
            models.Index(
                fields=["due_at"],
                condition=Q(status="awaiting_payment"),
                name="settlement_awaiting_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"settlement #{self.pk} of auction {self.auction_id} ({self.status})"


class Transfer(models.Model):
    """One entry of the transfer registry: the loans of ``package`` passed from ``seller`` to
    ``buyer`` on completion of ``settlement`` (one transfer per settlement, never two).

    ``digest`` is the lowercase hex SHA-256 of the lines ``loan_id,balance\\n`` (balance with two
    decimals) of every transferred loan, ordered by ``loan_id`` in byte order, in UTF-8 (API.md):
    anyone holding the loan schedule can recompute it. Written once by the transfer service."""

    package = models.ForeignKey("listings.Package", on_delete=models.PROTECT, related_name="+")
    seller = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    buyer = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    settlement = models.OneToOneField(Settlement, on_delete=models.PROTECT, related_name="transfer")
    price = money_field()
    loan_count = models.PositiveIntegerField()
    total_balance = money_field()
    digest = models.CharField(max_length=64)
    transferred_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(digest__regex=r"^[0-9a-f]{64}$"),
                name="%(app_label)s_%(class)s_digest_sha256_hex",
            ),
            models.CheckConstraint(
                condition=Q(price__gt=0) & Q(total_balance__gte=0),
                name="%(app_label)s_%(class)s_amounts_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["seller", "transferred_at"], name="transfer_seller_at_idx"),
            models.Index(fields=["buyer", "transferred_at"], name="transfer_buyer_at_idx"),
        ]

    def __str__(self) -> str:
        return f"transfer #{self.pk} of package {self.package_id} (settlement {self.settlement_id})"
