"""Deal facts: one row per completed sale, the only input of the price index and valuation.

A deal is written once, in the transaction that completes its settlement (``market.deals``),
from the figures the tape import already stored on the package (summary, stratification and
the days-past-due x product mix): no loan is read again. Synthetic deals (``synthetic``) come
from ``seed_market_history`` or the benchmark; they have no settlement and are labelled as such
wherever a figure is shown.
"""

from django.db import models
from django.db.models import Q

from marketplace.common.money import money_field

RATIO_MAX_DIGITS = 12
RATIO_DECIMAL_PLACES = 6


class Deal(models.Model):
    # One deal per completed settlement; synthetic deals have none.
    settlement = models.OneToOneField(
        "settlement.Settlement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    package = models.ForeignKey(
        "listings.Package", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Counted for the suppression rule (distinct sellers per cell); never shown.
    seller = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    synthetic = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    completed_at = models.DateTimeField()
    quarter = models.CharField(max_length=7)  # e.g. 2026Q3
    price = money_field()
    total_principal = money_field()
    total_interest = money_field()
    total_fees = money_field()
    total_balance = money_field()
    price_to_balance = models.DecimalField(
        max_digits=RATIO_MAX_DIGITS, decimal_places=RATIO_DECIMAL_PLACES
    )
    price_to_principal = models.DecimalField(
        max_digits=RATIO_MAX_DIGITS, decimal_places=RATIO_DECIMAL_PLACES, null=True, blank=True
    )
    loan_count = models.PositiveIntegerField()
    borrower_count = models.PositiveIntegerField()
    qualified_bidders = models.PositiveIntegerField(default=0)
    bid_count = models.PositiveIntegerField(default=0)
    weighted_avg_days_past_due = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    # The deal's segment (API.md): majority product type and legal status (by balance), the
    # bucket of its weighted average days past due, its largest region.
    product_type = models.CharField(max_length=32)
    dpd_bucket = models.CharField(max_length=16)
    legal_status = models.CharField(max_length=32)
    region = models.CharField(max_length=100)
    # Balance shares by dimension: {"days_past_due": {bucket: "0.123456"}, "product_type": ...,
    # "legal_status": ..., "region": ..., "vintage": ..., "dpd_product": {"0-89|credit_card": ...}}
    shares = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gt=0) & Q(total_balance__gt=0) & Q(price_to_balance__gte=0),
                name="%(app_label)s_%(class)s_amounts_valid",
            ),
            models.CheckConstraint(
                condition=Q(synthetic=True) | Q(settlement__isnull=False),
                name="%(app_label)s_%(class)s_real_has_settlement",
            ),
            models.CheckConstraint(
                condition=Q(quarter__regex=r"^[0-9]{4}Q[1-4]$"),
                name="%(app_label)s_%(class)s_quarter_format",
            ),
        ]
        indexes = [models.Index(fields=["quarter"], name="market_deal_quarter_idx")]

    def __str__(self) -> str:
        kind = "synthetic deal" if self.synthetic else "deal"
        return f"{kind} #{self.pk} ({self.quarter}, {self.price_to_balance})"
