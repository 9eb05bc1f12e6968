"""Request and response shapes of the listings API.

Input serializers are ``Serializer[None]``: they validate data and are never bound to an
instance; response shapes built as dicts are ``Serializer[dict[str, Any]]``."""

from typing import Any

from rest_framework import serializers

from listings.models import (
    DESCRIPTION_MAX_LENGTH,
    REVIEW_NOTE_MAX_LENGTH,
    Loan,
    LoanTapeImport,
    Package,
)
from marketplace.accounts.models import Organization


class SellerSerializer(serializers.Serializer[Organization]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TapeRefSerializer(serializers.ModelSerializer[LoanTapeImport]):
    class Meta:
        model = LoanTapeImport
        fields = ["id", "status", "rows_total", "rows_processed", "error_count", "created_at"]


class PackageSerializer(serializers.ModelSerializer[Package]):
    seller = SellerSerializer()
    weighted_avg_days_past_due = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    weighted_avg_borrower_age = serializers.DecimalField(
        max_digits=6, decimal_places=2, allow_null=True
    )
    litigation_mix = serializers.DictField(child=serializers.IntegerField())
    product_mix = serializers.DictField(child=serializers.IntegerField())
    latest_tape = TapeRefSerializer(allow_null=True)

    class Meta:
        model = Package
        fields = [
            "id",
            "title",
            "description",
            "status",
            "seller",
            "currency",
            "cut_off_date",
            "loan_count",
            "borrower_count",
            "total_principal",
            "total_interest",
            "total_fees",
            "total_balance",
            "weighted_avg_days_past_due",
            "weighted_avg_borrower_age",
            "max_borrower_balance",
            "avg_borrower_balance",
            "litigation_mix",
            "product_mix",
            "review_note",
            "latest_tape",
            "created_at",
            "updated_at",
        ]


class PackageCreateSerializer(serializers.Serializer[None]):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", error_messages={"invalid": "Must be an ISO 4217 code in capitals, e.g. EUR."}
    )
    cut_off_date = serializers.DateField(input_formats=["%Y-%m-%d"])


class PackageUpdateSerializer(serializers.Serializer[None]):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    cut_off_date = serializers.DateField(input_formats=["%Y-%m-%d"], required=False)


class PackageRejectSerializer(serializers.Serializer[None]):
    reason = serializers.CharField(max_length=REVIEW_NOTE_MAX_LENGTH)


class PackageApproveSerializer(serializers.Serializer[None]):
    note = serializers.CharField(
        max_length=REVIEW_NOTE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class TapeUploadSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=True)


class TapeAcceptedSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    status = serializers.CharField()


class TapeErrorSerializer(serializers.Serializer[dict[str, Any]]):
    line = serializers.IntegerField()
    column = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class LoanTapeImportSerializer(serializers.ModelSerializer[LoanTapeImport]):
    # A declared field named like Serializer.errors: DRF's metaclass moves it into
    # _declared_fields, so the ``errors`` property stays; mypy sees only the class attribute.
    errors = TapeErrorSerializer(many=True)  # type: ignore[assignment]

    class Meta:
        model = LoanTapeImport
        fields = [
            "id",
            "package",
            "status",
            "file_name",
            "file_type",
            "file_size",
            "rows_total",
            "rows_processed",
            "error_count",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        ]


class StratificationRowSerializer(serializers.Serializer[dict[str, Any]]):
    bucket = serializers.CharField()
    loan_count = serializers.IntegerField()
    total_balance = serializers.DecimalField(max_digits=18, decimal_places=2)
    balance_share = serializers.DecimalField(max_digits=6, decimal_places=4)
    weighted_avg_days_past_due = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )


class StratificationSerializer(serializers.Serializer[dict[str, Any]]):
    days_past_due = StratificationRowSerializer(many=True)
    balance = StratificationRowSerializer(many=True)
    region = StratificationRowSerializer(many=True)
    product_type = StratificationRowSerializer(many=True)
    vintage = StratificationRowSerializer(many=True)
    legal_status = StratificationRowSerializer(many=True)


LOAN_FIELDS = [
    "loan_id",
    "borrower_ref",
    "product_type",
    "currency",
    "origination_date",
    "default_date",
    "outstanding_principal",
    "accrued_interest",
    "fees_and_penalties",
    "balance",
    "days_past_due",
    "last_payment_date",
    "last_payment_amount",
    "interest_rate",
    "borrower_age",
    "region",
    "legal_status",
    "classification",
    "written_off",
]


class LoanSerializer(serializers.ModelSerializer[Loan]):
    borrower_ref = serializers.CharField(
        read_only=True, help_text="Masked, stable reference; never the borrower id."
    )
    owner = serializers.IntegerField(source="owner_id", allow_null=True)

    class Meta:
        model = Loan
        fields = ["id", *LOAN_FIELDS, "owner"]
