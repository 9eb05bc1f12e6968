"""Filters of the transfer registry (API.md): parties and a time window."""

import django_filters

from marketplace.common.filters import UtcDateTimeFilter
from settlement.models import Transfer


class TransferFilter(django_filters.FilterSet):
    seller = django_filters.NumberFilter(field_name="seller_id")
    buyer = django_filters.NumberFilter(field_name="buyer_id")
    transferred_after = UtcDateTimeFilter(field_name="transferred_at", lookup_expr="gte")
    transferred_before = UtcDateTimeFilter(field_name="transferred_at", lookup_expr="lt")

    class Meta:
        model = Transfer
        fields: list[str] = []
