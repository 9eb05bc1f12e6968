import django_filters
from django.db.models import QuerySet

from listings.models import LegalStatus, Loan, Package, PackageStatus, ProductType


class PackageFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PackageStatus.choices)
    currency = django_filters.CharFilter()
    seller = django_filters.NumberFilter(field_name="seller_id")
    product_type = django_filters.ChoiceFilter(
        choices=ProductType.choices,
        method="filter_product_type",
        help_text="Packages holding at least one loan of this product type.",
    )
    min_total_balance = django_filters.NumberFilter(field_name="total_balance", lookup_expr="gte")
    max_total_balance = django_filters.NumberFilter(field_name="total_balance", lookup_expr="lte")
    min_loan_count = django_filters.NumberFilter(field_name="loan_count", lookup_expr="gte")
    max_avg_days_past_due = django_filters.NumberFilter(
        field_name="weighted_avg_days_past_due", lookup_expr="lte"
    )
    search = django_filters.CharFilter(method="filter_search", help_text="Title or description.")

    class Meta:
        model = Package
        fields: list[str] = []

    def filter_product_type(
        self, queryset: QuerySet[Package], name: str, value: str
    ) -> QuerySet[Package]:
        return queryset.filter(product_mix__has_key=value)

    def filter_search(
        self, queryset: QuerySet[Package], name: str, value: str
    ) -> QuerySet[Package]:
        from django.db.models import Q

        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))


class LoanFilter(django_filters.FilterSet):
    product_type = django_filters.ChoiceFilter(choices=ProductType.choices)
    region = django_filters.CharFilter()
    legal_status = django_filters.ChoiceFilter(choices=LegalStatus.choices)
    min_days_past_due = django_filters.NumberFilter(field_name="days_past_due", lookup_expr="gte")
    max_days_past_due = django_filters.NumberFilter(field_name="days_past_due", lookup_expr="lte")
    min_balance = django_filters.NumberFilter(field_name="balance", lookup_expr="gte")
    max_balance = django_filters.NumberFilter(field_name="balance", lookup_expr="lte")

    class Meta:
        model = Loan
        fields: list[str] = []
