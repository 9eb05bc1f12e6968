"""Response shapes of the ledger API (API.md "Settlements, ledger, transfers")."""

from typing import Any

from rest_framework import serializers

from marketplace.common.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from marketplace.ledger.models import AccountKind, Entry


class EntrySerializer(serializers.ModelSerializer[Entry]):
    account = serializers.CharField(source="account.kind", help_text="Account kind.")
    account_id = serializers.IntegerField()
    organization = serializers.IntegerField(source="organization_id")
    settlement = serializers.IntegerField(source="settlement_id", allow_null=True)
    registration = serializers.IntegerField(source="registration_id", allow_null=True)

    class Meta:
        model = Entry
        fields = [
            "id",
            "transaction_id",
            "account",
            "account_id",
            "organization",
            "amount",
            "currency",
            "kind",
            "settlement",
            "registration",
            "created_at",
        ]


class BalanceSerializer(serializers.Serializer[dict[str, Any]]):
    organization = serializers.IntegerField()
    account = serializers.ChoiceField(choices=AccountKind.choices)
    currency = serializers.CharField()
    balance = serializers.DecimalField(
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=MONEY_DECIMAL_PLACES,
        help_text="Signed sum of the account's entries: debit positive, credit negative.",
    )


class InvalidLedgerSerializer(serializers.Serializer[dict[str, Any]]):
    check = serializers.CharField(
        help_text="`transaction_balanced`, `payout_cleared` or `deposit_matches`."
    )
    transaction_id = serializers.UUIDField(required=False)
    registration_id = serializers.IntegerField(required=False)
    organization_id = serializers.IntegerField(required=False)
    reason = serializers.CharField()


class LedgerVerifySerializer(serializers.Serializer[dict[str, Any]]):
    valid = serializers.BooleanField()
    transactions_checked = serializers.IntegerField()
    registrations_checked = serializers.IntegerField()
    first_invalid = InvalidLedgerSerializer(required=False)
