"""Pure rules of market data: a deal's segment, its quarter, its pricing features (one
definition each; the deal writer, the seed, the index and the model all call these)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from listings.models import ProductType
from listings.tape.disclosure import DPD_BUCKETS

PRODUCTS: tuple[str, ...] = tuple(ProductType.values)
# The model's features: balance shares of each (days-past-due bucket, product type) cell.
FEATURES: tuple[str, ...] = tuple(f"{d}|{p}" for d in DPD_BUCKETS for p in PRODUCTS)
# Upper bounds (inclusive) of the days-past-due buckets but the last (API.md).
_DPD_UPPER = (89, 180, 365, 730, 1095)
SHARE_PLACES = Decimal("0.000001")
SHARE_DIMENSIONS = ("days_past_due", "product_type", "legal_status", "region", "vintage")


def quarter_of(moment: dt.datetime | dt.date) -> str:
    return f"{moment.year}Q{(moment.month - 1) // 3 + 1}"


def dpd_bucket_of(days: Decimal | int | None) -> str:
    """The bucket of a (weighted average) number of days past due; whole days count."""
    whole = int(days or 0)
    for bucket, upper in zip(DPD_BUCKETS, _DPD_UPPER, strict=False):
        if whole <= upper:
            return bucket
    return DPD_BUCKETS[-1]


def share(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal(0).quantize(SHARE_PLACES)
    return (Decimal(part) / Decimal(whole)).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)


def shares_of(rows: Sequence[Mapping[str, Any]], total: Decimal) -> dict[str, str]:
    """{bucket: balance share with 6 places} of a stratification table (non-empty buckets)."""
    return {
        str(row["bucket"]): str(share(Decimal(row["total_balance"]), total))
        for row in rows
        if Decimal(row["total_balance"] or 0) > 0
    }


def largest(shares: Mapping[str, str]) -> str:
    """The bucket with the largest share; ties go to the first bucket in name order."""
    if not shares:
        return ""
    return min(shares, key=lambda bucket: (-Decimal(shares[bucket]), bucket))


def dpd_product_from_marginals(shares: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The cross shares assumed independent: for packages imported before the import stored
    the cross (``Package.dpd_product_mix``)."""
    dpd = shares.get("days_past_due", {})
    products = shares.get("product_type", {})
    return {
        f"{d}|{p}": str((Decimal(ds) * Decimal(ps)).quantize(SHARE_PLACES))
        for d, ds in dpd.items()
        for p, ps in products.items()
    }


def feature_vector(dpd_product: Mapping[str, str | float]) -> list[float]:
    """The model's inputs (float: the fit is statistics, never money)."""
    return [float(dpd_product.get(name, 0) or 0) for name in FEATURES]
