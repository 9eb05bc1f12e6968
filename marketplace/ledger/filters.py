import django_filters

from marketplace.common.filters import UtcDateTimeFilter
from marketplace.ledger.models import AccountKind, Entry, EntryKind


class EntryFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="organization_id")
    account = django_filters.ChoiceFilter(
        field_name="account__kind", choices=AccountKind.choices, help_text="Account kind."
    )
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    transaction_id = django_filters.UUIDFilter()
    settlement = django_filters.NumberFilter(field_name="settlement_id")
    registration = django_filters.NumberFilter(field_name="registration_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Entry
        fields: list[str] = []


class BalanceFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="organization_id")
    account = django_filters.ChoiceFilter(
        field_name="account__kind", choices=AccountKind.choices, help_text="Account kind."
    )
    currency = django_filters.CharFilter()

    class Meta:
        model = Entry
        fields: list[str] = []
