"""Deal facts: a completed sale recorded once, from what the import stored (no loan re-read)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bidding.models import Auction, Registration, RegistrationStatus
from listings.models import Package
from market.codes import AuditAction
from market.models import Deal
from market.segments import (
    SHARE_DIMENSIONS,
    dpd_bucket_of,
    dpd_product_from_marginals,
    largest,
    quarter_of,
    share,
    shares_of,
)
from marketplace.audit.services import record
from marketplace.common.atomic import require_atomic
from settlement.models import Settlement, SettlementStatus


def deal_record(*, settlement: Settlement) -> Deal | None:
    """Record the deal of a completed settlement, once: a second call returns the first deal.
    None when the settlement is not completed or its package has no balance to price against.

    Runs inside the caller's transaction (the transfer that completes the settlement, or the
    backfill), which holds the settlement's row lock; the unique settlement column makes a
    duplicate impossible even so. Reads only the package's stored summary and stratification,
    the auction's bid count and its approved registrations."""
    require_atomic("deal_record")
    if settlement.status != SettlementStatus.COMPLETED or settlement.completed_at is None:
        return None
    existing = Deal.objects.filter(settlement_id=settlement.pk).first()
    if existing is not None:
        return existing
    package = Package.objects.get(pk=settlement.package_id)
    if package.total_balance <= 0:
        return None
    deal = Deal.objects.create(
        settlement=settlement,
        package=package,
        seller_id=settlement.seller_id,
        currency=package.currency,
        completed_at=settlement.completed_at,
        quarter=quarter_of(settlement.completed_at),
        price=settlement.price,
        **package_facts(package, settlement.price),
        **_competition(settlement),
    )
    record(
        action=AuditAction.DEAL_RECORDED,
        object_type="deal",
        object_id=deal.pk,
        actor=None,
        data={"settlement_id": settlement.pk, "quarter": deal.quarter},
    )
    return deal


def package_facts(package: Package, price: Decimal) -> dict[str, Any]:
    """The deal's figures, segment and shares from the package's stored disclosure."""
    shares = package_shares(package)
    return {
        "total_principal": package.total_principal,
        "total_interest": package.total_interest,
        "total_fees": package.total_fees,
        "total_balance": package.total_balance,
        "price_to_balance": share(price, package.total_balance),
        "price_to_principal": (
            share(price, package.total_principal) if package.total_principal else None
        ),
        "loan_count": package.loan_count,
        "borrower_count": package.borrower_count,
        "weighted_avg_days_past_due": package.weighted_avg_days_past_due,
        "product_type": largest(shares["product_type"]),
        "dpd_bucket": dpd_bucket_of(package.weighted_avg_days_past_due),
        "legal_status": largest(shares["legal_status"]),
        "region": largest(shares["region"]),
        "shares": shares,
    }


def package_shares(package: Package) -> dict[str, dict[str, str]]:
    """Balance shares by dimension, plus the (days past due, product) cross the model uses."""
    strat = package.stratification or {}
    shares = {
        dimension: shares_of(strat.get(dimension, []), package.total_balance)
        for dimension in SHARE_DIMENSIONS
    }
    shares["dpd_product"] = dict(package.dpd_product_mix) or dpd_product_from_marginals(shares)
    return shares


def _competition(settlement: Settlement) -> dict[str, int]:
    bid_count = (
        Auction.objects.filter(pk=settlement.auction_id).values_list("bid_count", flat=True).get()
    )
    qualified = Registration.objects.filter(
        auction_id=settlement.auction_id, status=RegistrationStatus.APPROVED
    ).count()
    return {"bid_count": bid_count, "qualified_bidders": qualified}
