"""Market-data fixtures: synthetic deal histories written straight into the deal table (the
way seed_market_history does), and the valuation cache emptied between tests."""

from __future__ import annotations

import pytest
from django.utils import timezone

from market import valuation
from market.models import Deal
from market.synthetic import synthetic_history
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    valuation._cache = None
    yield
    valuation._cache = None


@pytest.fixture
def make_history(db):
    """``make_history(count, sellers=5, seed=13, noise=0.12)``: saved synthetic deals of
    ``sellers`` new banks over the last 12 quarters."""

    def make(count: int, *, sellers: int = 5, seed: int = 13, noise: float = 0.12) -> list[Deal]:
        banks = [OrganizationFactory(kind="bank") for _ in range(sellers)]
        deals = synthetic_history(
            count=count, sellers=banks, seed=seed, now=timezone.now(), noise=noise
        )
        return Deal.objects.bulk_create(deals)

    return make
