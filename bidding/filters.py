import django_filters

from bidding.models import Auction, AuctionFormat, AuctionStatus
from marketplace.common.filters import UtcDateTimeFilter


class AuctionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AuctionStatus.choices)
    format = django_filters.ChoiceFilter(choices=AuctionFormat.choices)
    package = django_filters.NumberFilter(field_name="package_id")
    seller = django_filters.NumberFilter(field_name="seller_id")
    ends_after = UtcDateTimeFilter(field_name="ends_at", lookup_expr="gte")
    ends_before = UtcDateTimeFilter(field_name="ends_at", lookup_expr="lt")

    class Meta:
        model = Auction
        fields: list[str] = []
