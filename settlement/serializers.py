from rest_framework import serializers

from settlement.models import Settlement


class PartySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SettlementSerializer(serializers.ModelSerializer):
    seller = PartySerializer()
    buyer = PartySerializer()

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
            "paid_at",
            "completed_at",
            "created_at",
        ]
