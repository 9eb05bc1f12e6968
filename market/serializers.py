"""Response shapes of market data, for the OpenAPI schema (the views build plain dicts)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class IndexRowSerializer(serializers.Serializer[Any]):
    segment = serializers.DictField(child=serializers.CharField())
    suppressed = serializers.BooleanField()
    deals = serializers.IntegerField(required=False)
    sellers = serializers.IntegerField(required=False)
    synthetic_deals = serializers.IntegerField(required=False)
    total_balance = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    total_price = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    price_to_balance = serializers.DecimalField(max_digits=12, decimal_places=6, required=False)
    median_price_to_balance = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False
    )
    price_to_principal = serializers.DecimalField(
        max_digits=12, decimal_places=6, required=False, allow_null=True
    )


class PriceIndexSerializer(serializers.Serializer[Any]):
    group_by = serializers.ListField(child=serializers.CharField())
    minimum_deals = serializers.IntegerField()
    minimum_sellers = serializers.IntegerField()
    results = IndexRowSerializer(many=True)


class ComparableSerializer(serializers.Serializer[Any]):
    ref = serializers.CharField()
    quarter = serializers.CharField()
    loan_count = serializers.IntegerField()
    price_to_balance = serializers.DecimalField(max_digits=12, decimal_places=6)
    similarity = serializers.DecimalField(max_digits=12, decimal_places=6)


class ValuationSerializer(serializers.Serializer[Any]):
    low = serializers.DecimalField(max_digits=18, decimal_places=2)
    point = serializers.DecimalField(max_digits=18, decimal_places=2)
    high = serializers.DecimalField(max_digits=18, decimal_places=2)
    price_to_balance_low = serializers.DecimalField(max_digits=12, decimal_places=6)
    price_to_balance_point = serializers.DecimalField(max_digits=12, decimal_places=6)
    price_to_balance_high = serializers.DecimalField(max_digits=12, decimal_places=6)
    method = serializers.CharField()
    deals_used = serializers.IntegerField()
    model_error = serializers.DecimalField(max_digits=12, decimal_places=6)
    model_mae = serializers.DecimalField(max_digits=12, decimal_places=6)
    range_coverage = serializers.DecimalField(max_digits=12, decimal_places=6)
    folds = serializers.IntegerField()
    coefficients = serializers.DictField(child=serializers.CharField())
    comparables = ComparableSerializer(many=True)


class RiskFlagSerializer(serializers.Serializer[Any]):
    """A raised flag: only flags whose figure passed its threshold are listed."""

    code = serializers.CharField()
    value = serializers.CharField()
    threshold = serializers.CharField()
    severity = serializers.ChoiceField(choices=["info", "warning", "high"])


class ConcentrationSerializer(serializers.Serializer[Any]):
    top10_borrower_share = serializers.CharField()
    largest_borrower_share = serializers.CharField()
    region_hhi = serializers.CharField()
    product_hhi = serializers.CharField()


class RiskSerializer(serializers.Serializer[Any]):
    """Computed at import; before a tape is imported every figure is null and no flag is raised."""

    flags = RiskFlagSerializer(many=True)
    concentration = ConcentrationSerializer(allow_null=True)
    vintage_spread_years = serializers.IntegerField(allow_null=True)
    share_over_5_years_overdue = serializers.CharField(allow_null=True)
    share_in_litigation_or_enforcement = serializers.CharField(allow_null=True)
    borrowers_in_other_packages = serializers.IntegerField(allow_null=True)
    data_quality = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    computed_at = serializers.CharField(allow_null=True)
