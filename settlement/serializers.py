from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.common.money import MoneyInput
from settlement.models import REFERENCE_MAX_LENGTH, Settlement, Transfer


class PartySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SettlementSerializer(serializers.ModelSerializer[Settlement]):
    seller = PartySerializer()
    buyer = PartySerializer()
    transfer = serializers.SerializerMethodField(
        help_text="The transfer record's id once ownership has moved, else null."
    )

    class Meta:
        model = Settlement
        fields = [
            "id",
            "auction",
            "package",
            "seller",
            "buyer",
            "price",
            "deposit_applied",
            "balance_due",
            "due_at",
            "status",
            "payment_reference",
            "paid_at",
            "completed_at",
            "transfer",
            "runner_up_of",
            "created_at",
        ]

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_transfer(self, settlement: Settlement) -> int | None:
        try:
            return settlement.transfer.pk
        except Transfer.DoesNotExist:  # not transferred (yet)
            return None


class ConfirmPaymentSerializer(serializers.Serializer[Any]):
    amount = MoneyInput(
        help_text='The amount received, a decimal string equal to `balance_due`, e.g. "8600000.00".'
    )
    reference = serializers.CharField(
        max_length=REFERENCE_MAX_LENGTH,
        help_text="The bank's reference of the payment (kept on the settlement).",
    )
