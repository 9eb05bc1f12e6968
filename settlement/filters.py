import django_filters

from marketplace.common.filters import UtcDateTimeFilter
from settlement.models import Settlement, SettlementStatus


class SettlementFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SettlementStatus.choices)
    seller = django_filters.NumberFilter(field_name="seller_id")
    buyer = django_filters.NumberFilter(field_name="buyer_id")
    auction = django_filters.NumberFilter(field_name="auction_id")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Settlement
        fields: list[str] = []
