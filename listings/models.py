"""Loan packages, their loan-tape imports and loans, and data-room grants."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Collate

from marketplace.common.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, money_field


class PackageStatus(models.TextChoices):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    IN_AUCTION = "in_auction"
    SOLD = "sold"
    WITHDRAWN = "withdrawn"


# The package workflow (API.md): transition name -> (allowed from, to). Services use only this.
PACKAGE_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({PackageStatus.DRAFT}), PackageStatus.PENDING_REVIEW),
    "approve": (frozenset({PackageStatus.PENDING_REVIEW}), PackageStatus.APPROVED),
    "reject": (frozenset({PackageStatus.PENDING_REVIEW}), PackageStatus.DRAFT),
    "withdraw": (
        frozenset({PackageStatus.DRAFT, PackageStatus.PENDING_REVIEW, PackageStatus.APPROVED}),
        PackageStatus.WITHDRAWN,
    ),
    # Driven by bidding and settlement through listings' services.
    "auction_start": (frozenset({PackageStatus.APPROVED}), PackageStatus.IN_AUCTION),
    "return_to_market": (frozenset({PackageStatus.IN_AUCTION}), PackageStatus.APPROVED),
    "sell": (frozenset({PackageStatus.IN_AUCTION}), PackageStatus.SOLD),
}

# Seen by everyone signed in; other statuses only by the seller and the platform.
PUBLIC_STATUSES = frozenset({PackageStatus.APPROVED, PackageStatus.IN_AUCTION, PackageStatus.SOLD})


class ProductType(models.TextChoices):
    CREDIT_CARD = "credit_card"
    CONSUMER_LOAN = "consumer_loan"
    PERSONAL_BUSINESS_LOAN = "personal_business_loan"


class LegalStatus(models.TextChoices):
    NOT_SUED = "not_sued"
    IN_LITIGATION = "in_litigation"
    JUDGMENT_OBTAINED = "judgment_obtained"
    ENFORCEMENT = "enforcement"
    ENFORCEMENT_TERMINATED = "enforcement_terminated"
    SETTLED = "settled"


class Classification(models.TextChoices):
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"


# Bounds of a package's free text (a 9 MiB description was stored and served in every list).
DESCRIPTION_MAX_LENGTH = 10_000
REVIEW_NOTE_MAX_LENGTH = 4_000


class Package(models.Model):
    seller = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="packages"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True)
    currency = models.CharField(max_length=3)
    cut_off_date = models.DateField()
    status = models.CharField(
        max_length=16, choices=PackageStatus.choices, default=PackageStatus.DRAFT
    )
    review_note = models.CharField(max_length=REVIEW_NOTE_MAX_LENGTH, blank=True)
    # The import whose loans are the package's loans, and the most recent upload.
    current_tape = models.ForeignKey(
        "LoanTapeImport", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    latest_tape = models.ForeignKey(
        "LoanTapeImport", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Disclosure summary, computed in SQL once per successful import.
    loan_count = models.PositiveIntegerField(default=0)
    borrower_count = models.PositiveIntegerField(default=0)
    total_principal = money_field(default=0)
    total_interest = money_field(default=0)
    total_fees = money_field(default=0)
    total_balance = money_field(default=0)
    weighted_avg_days_past_due = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    weighted_avg_borrower_age = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True
    )
    max_borrower_balance = money_field(null=True, blank=True)
    avg_borrower_balance = money_field(null=True, blank=True)
    litigation_mix = models.JSONField(default=dict, blank=True)
    product_mix = models.JSONField(default=dict, blank=True)
    stratification = models.JSONField(default=dict, blank=True)
    # Computed with the disclosure for market data (docs/MARKET.md): balance shares of the
    # (days-past-due bucket, product type) cells, and the tape's risk signals.
    dpd_product_mix = models.JSONField(default=dict, blank=True)
    risk = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PackageStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"),
                name="%(app_label)s_%(class)s_currency_iso",
            ),
            models.CheckConstraint(
                condition=Q(total_balance__gte=0), name="%(app_label)s_%(class)s_balance_gte_0"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="package_status_created_idx"),
            models.Index(fields=["seller", "status"], name="package_seller_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class TapeStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LoanTapeImport(models.Model):
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="tape_imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=TapeStatus.choices, default=TapeStatus.PENDING)
    file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=8)  # csv | xlsx
    file_size = models.BigIntegerField()
    stored_path = models.CharField(max_length=500)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_processed = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # the first 1000
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=TapeStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"tape #{self.pk} of package {self.package_id} ({self.status})"


class Loan(models.Model):
    """One loan of a tape. Loaded with COPY; never edited through the ORM.

    ``borrower_hash`` is HMAC-SHA256(BORROWER_HASH_KEY, borrower_id): the borrower id itself is
    never stored. ``owner`` is the organisation that owns the loan (the buyer after transfer).
    """

    # Bulk table: a million rows arrive in one INSERT ... SELECT. Per-row foreign-key triggers
    # would cost more than the whole COPY, so the references are not database constraints; the
    # import service writes ids of rows it holds locked in the same transaction, and packages,
    # imports and organisations are never deleted (PROTECT, no delete path). The composite
    # indexes below serve every lookup, so single-column FK indexes are left out too.
    package = models.ForeignKey(
        Package,
        on_delete=models.PROTECT,
        related_name="loans",
        db_index=False,
        db_constraint=False,
    )
    tape_import = models.ForeignKey(
        LoanTapeImport,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    loan_id = models.CharField(max_length=100)
    borrower_hash = models.CharField(max_length=64)
    product_type = models.CharField(max_length=32, choices=ProductType.choices)
    currency = models.CharField(max_length=3)
    origination_date = models.DateField()
    default_date = models.DateField(null=True, blank=True)
    outstanding_principal = money_field()
    accrued_interest = money_field()
    fees_and_penalties = money_field(default=0)
    balance = models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    days_past_due = models.PositiveIntegerField()
    last_payment_date = models.DateField(null=True, blank=True)
    last_payment_amount = money_field(null=True, blank=True)
    interest_rate = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    borrower_age = models.PositiveSmallIntegerField(null=True, blank=True)
    region = models.CharField(max_length=100)
    legal_status = models.CharField(max_length=32, choices=LegalStatus.choices)
    classification = models.CharField(max_length=16, choices=Classification.choices, blank=True)
    written_off = models.BooleanField(null=True, blank=True)
    owner = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The transfer (settlement's registry record) that moved the loan to ``owner``; a plain id,
    # not a foreign key: listings does not depend on settlement. Set once, by the transfer's
    # one set-based UPDATE; the import never writes it (its COPY column list leaves it out).
    transfer_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tape_import", "loan_id"], name="%(app_label)s_%(class)s_tape_loan_id"
            ),
            models.CheckConstraint(
                condition=Q(outstanding_principal__gte=0)
                & Q(accrued_interest__gte=0)
                & Q(fees_and_penalties__gte=0),
                name="%(app_label)s_%(class)s_amounts_gte_0",
            ),
        ]
        indexes = [
            # Only transferred loans have an owner; a partial index costs nothing at import.
            models.Index(
                fields=["package", "owner"],
                name="loan_package_owner_idx",
                condition=Q(owner__isnull=False),
            ),
            # A transfer's loan schedule, in the byte order of loan_id that its digest uses.
            models.Index(
                F("transfer_id"),
                Collate("loan_id", "C"),
                name="loan_transfer_loan_id_idx",
                condition=Q(transfer_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} ({self.package_id})"

    @property
    def borrower_ref(self) -> str:
        return f"BRW-{self.borrower_hash[:12].upper()}"


class DataRoomGrant(models.Model):
    """An organisation's access to a package's loan-level data (given by bidding on NDA)."""

    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="data_room_grants")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["package", "organization"], name="%(app_label)s_%(class)s_package_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} -> package {self.package_id}"
