"""The transfer registry and the loan schedule on the wire (API.md)."""

from __future__ import annotations

from rest_framework import serializers

from listings.models import Loan
from marketplace.common.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from settlement.models import Transfer
from settlement.serializers import PartySerializer


class TransferSerializer(serializers.ModelSerializer[Transfer]):
    seller = PartySerializer()
    buyer = PartySerializer()

    class Meta:
        model = Transfer
        fields = [
            "id",
            "package",
            "seller",
            "buyer",
            "settlement",
            "price",
            "loan_count",
            "total_balance",
            "digest",
            "transferred_at",
        ]


# The registry as CSV: one flat row per transfer, the parties as id and name.
TRANSFER_CSV_HEADER = [
    "id",
    "package",
    "seller_id",
    "seller_name",
    "buyer_id",
    "buyer_name",
    "settlement",
    "price",
    "loan_count",
    "total_balance",
    "digest",
    "transferred_at",
]


def transfer_csv_row(transfer: Transfer) -> list[object]:
    return [
        transfer.pk,
        transfer.package_id,
        transfer.seller_id,
        transfer.seller.name,
        transfer.buyer_id,
        transfer.buyer.name,
        transfer.settlement_id,
        transfer.price,
        transfer.loan_count,
        transfer.total_balance,
        transfer.digest,
        transfer.transferred_at.isoformat(),
    ]


class ScheduleLoanSerializer(serializers.ModelSerializer[Loan]):
    """One line of the loan schedule annexed to the assignment."""

    principal = serializers.DecimalField(
        source="outstanding_principal",
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
    )
    interest = serializers.DecimalField(
        source="accrued_interest", max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES
    )
    fees = serializers.DecimalField(
        source="fees_and_penalties",
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
    )

    class Meta:
        model = Loan
        fields = [
            "loan_id",
            "borrower_hash",
            "principal",
            "interest",
            "fees",
            "balance",
            "days_past_due",
        ]
