from django.urls import URLPattern, path

from market.api import PriceIndexView, RiskView, ValuationView

urlpatterns: list[URLPattern] = [
    path("market/price-index/", PriceIndexView.as_view(), name="market-price-index"),
    path("packages/<int:pk>/valuation/", ValuationView.as_view(), name="package-valuation"),
    path("packages/<int:pk>/risk/", RiskView.as_view(), name="package-risk"),
]
