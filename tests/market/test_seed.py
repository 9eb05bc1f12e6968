"""seed_market_history: labelled synthetic sales, the shape of the public statistics,
idempotent, --reset replaces only synthetic deals."""

from __future__ import annotations

import statistics

import pytest
from django.core.management import call_command

from market.models import Deal
from tests.factories import TransferFactory

pytestmark = pytest.mark.django_db


def test_seed_is_labelled_shaped_and_idempotent(tape_storage):
    real = TransferFactory()

    call_command("seed_market_history")
    first = set(Deal.objects.filter(synthetic=True).values_list("pk", flat=True))
    call_command("seed_market_history")

    synthetic = Deal.objects.filter(synthetic=True).select_related("seller")
    assert set(synthetic.values_list("pk", flat=True)) == first and len(first) == 360
    assert all(d.seller.name.startswith("Synthetic") and d.settlement_id is None for d in synthetic)
    assert synthetic.values("seller").distinct().count() == 6

    def median(**filters) -> float:
        return statistics.median(float(d.price_to_balance) for d in synthetic.filter(**filters))

    assert 0.09 < median(dpd_bucket__in=["90-180", "181-365"]) < 0.15
    assert median(dpd_bucket="1096+") < 0.03
    assert (
        median(product_type="personal_business_loan")
        > median(product_type="consumer_loan")
        > median(product_type="credit_card")
    )

    call_command("seed_market_history", "--reset", "--deals", "50")

    assert Deal.objects.filter(synthetic=True).count() == 50
    assert Deal.objects.filter(settlement_id=real.settlement_id).exists()  # real sales stay
