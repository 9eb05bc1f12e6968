"""Deal facts: a completed sale is recorded once, in the completing transaction, from the
package's stored disclosure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from bidding.models import Registration
from listings.models import Package
from market.deals import deal_record
from market.models import Deal
from market.segments import FEATURES, quarter_of
from settlement.models import Settlement
from tests.factories import SettlementFactory, TransferFactory, settlement_mark_paid

pytestmark = pytest.mark.django_db


def test_completing_a_sale_records_its_deal_with_the_packages_figures(tape_storage):
    transfer = TransferFactory()
    package = transfer.package
    package.refresh_from_db()
    settlement = Settlement.objects.get(pk=transfer.settlement_id)

    deal = Deal.objects.get(settlement=settlement)

    assert deal.package_id == package.pk and deal.seller_id == settlement.seller_id
    assert not deal.synthetic
    assert deal.price == settlement.price
    assert deal.total_balance == package.total_balance
    assert deal.total_principal == package.total_principal
    assert deal.total_interest == package.total_interest
    assert deal.total_fees == package.total_fees
    assert deal.price_to_balance == (settlement.price / package.total_balance).quantize(
        Decimal("0.000001")
    )
    assert deal.price_to_principal == (settlement.price / package.total_principal).quantize(
        Decimal("0.000001")
    )
    assert deal.loan_count == package.loan_count == 5
    assert deal.borrower_count == package.borrower_count
    assert deal.quarter == quarter_of(settlement.completed_at)
    assert deal.bid_count == settlement.auction.bid_count >= 1
    approved = Registration.objects.filter(auction=settlement.auction, status="approved").count()
    assert deal.qualified_bidders == approved >= 1
    # The segment keys are the largest buckets of the stored stratification.
    by_balance = {
        r["bucket"]: Decimal(r["total_balance"]) for r in package.stratification["product_type"]
    }
    assert deal.product_type == max(by_balance, key=by_balance.get)
    assert set(deal.shares["dpd_product"]) <= set(FEATURES)
    cross = sum(Decimal(v) for v in deal.shares["dpd_product"].values())
    assert abs(cross - 1) < Decimal("0.00001")


def test_the_cross_shares_add_up_to_each_marginal_of_the_stratification(tape_storage):
    transfer = TransferFactory()
    deal = Deal.objects.get(settlement_id=transfer.settlement_id)

    for product, marginal in deal.shares["product_type"].items():
        cells = [Decimal(v) for k, v in deal.shares["dpd_product"].items() if k.endswith(product)]
        assert abs(sum(cells) - Decimal(marginal)) < Decimal("0.00002")


def test_a_deal_is_recorded_once(tape_storage):
    transfer = TransferFactory()
    settlement = Settlement.objects.get(pk=transfer.settlement_id)

    with transaction.atomic():
        again = deal_record(settlement=settlement)

    assert Deal.objects.filter(settlement=settlement).count() == 1
    assert again == Deal.objects.get(settlement=settlement)


def test_no_deal_before_completion(tape_storage):
    settlement = settlement_mark_paid(SettlementFactory())

    with transaction.atomic():
        assert deal_record(settlement=settlement) is None
    assert not Deal.objects.exists()


def test_backfill_records_completed_sales_without_a_deal(tape_storage):
    transfer = TransferFactory()
    Deal.objects.all().delete()  # as if completed before the market app existed

    call_command("market_backfill_deals")
    call_command("market_backfill_deals")

    assert Deal.objects.filter(settlement_id=transfer.settlement_id).count() == 1


def test_backfill_gives_older_packages_their_risk_signals(package_with_tape):
    Package.objects.filter(pk=package_with_tape.pk).update(risk={})

    call_command("market_backfill_deals")

    package_with_tape.refresh_from_db()
    assert set(package_with_tape.risk) >= {"flags", "concentration", "data_quality"}
