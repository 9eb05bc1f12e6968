"""Synthetic deal history, clearly labelled: for a fresh machine's demo, the tests and the
benchmark. Never mixed up with real sales: every deal is ``synthetic=True`` and belongs to a
seller whose name starts with ``Synthetic``.

Prices follow the shape of the public statistics (docs/MARKET.md): the price share falls with
time overdue, from about 12% of unpaid balance under a year to under 2% past three years,
and business loans price above consumer loans, above cards. Each package's price share is
its cells' true prices weighted by its balance shares, times a lognormal noise.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal

from listings.tape.disclosure import DPD_BUCKETS
from market.models import Deal
from market.segments import PRODUCTS, dpd_bucket_of, largest, quarter_of, share
from marketplace.accounts.models import Organization, OrganizationKind
from marketplace.accounts.services import organization_create
from marketplace.common.money import CENT

SYNTHETIC_PREFIX = "Synthetic"
# Price share of balance by days-past-due bucket (consumer loans), and product multipliers.
DPD_PRICE = {
    "0-89": 0.130,
    "90-180": 0.120,
    "181-365": 0.105,
    "366-730": 0.075,
    "731-1095": 0.045,
    "1096+": 0.018,
}
PRODUCT_FACTOR = {"personal_business_loan": 1.25, "consumer_loan": 1.0, "credit_card": 0.8}
# Mid-points of the buckets, for a deal's weighted average days past due.
_DPD_MID = {"0-89": 60, "90-180": 135, "181-365": 270, "366-730": 545, "731-1095": 910}
REGIONS = ("Guangdong", "Zhejiang", "Jiangsu", "Sichuan", "Hubei", "Shandong")
LEGAL = ("not_sued", "in_litigation", "judgment_obtained", "enforcement")


def true_price(cell: str) -> float:
    """The generating price share of one "<dpd bucket>|<product>" cell."""
    dpd, product = cell.split("|")
    return DPD_PRICE[dpd] * PRODUCT_FACTOR[product]


def synthetic_sellers(
    count: int = 6, *, prefix: str = f"{SYNTHETIC_PREFIX} Bank"
) -> list[Organization]:
    """Banks named "<prefix> N" (prefix starting with "Synthetic"), created once, through the
    accounts service (audited)."""
    assert prefix.startswith(SYNTHETIC_PREFIX)
    sellers = []
    for n in range(1, count + 1):
        name = f"{prefix} {n}"
        org = Organization.objects.filter(name=name).first()
        sellers.append(
            org or organization_create(actor=None, name=name, kind=OrganizationKind.BANK)
        )
    return sellers


def _mix(
    rng: random.Random, keys: Sequence[str], concentration: float, dominance: float = 3.0
) -> dict[str, float]:
    """Random shares of ``keys``, one of them dominant (up to ``dominance`` times the rest)."""
    weights = [rng.gammavariate(concentration, 1.0) for _ in keys]
    weights[rng.randrange(len(keys))] += rng.uniform(0.5, dominance) * sum(weights)
    total = sum(weights)
    return {key: w / total for key, w in zip(keys, weights, strict=True)}


def synthetic_deal(
    rng: random.Random, seller: Organization, completed_at: dt.datetime, noise: float = 0.12
) -> Deal:
    """One unsaved synthetic deal."""
    dpd = _mix(rng, DPD_BUCKETS, 0.6, dominance=9.0)  # tapes are cut by time overdue
    products = _mix(rng, PRODUCTS, 0.8)
    cross = {f"{d}|{p}": dpd[d] * products[p] for d in DPD_BUCKETS for p in PRODUCTS}
    ratio = sum(s * true_price(cell) for cell, s in cross.items()) * rng.lognormvariate(0, noise)
    balance = Decimal(rng.randint(2_000_000, 80_000_000)).quantize(CENT)
    principal = (balance * Decimal("0.82")).quantize(CENT)
    price = max(CENT, (balance * Decimal(repr(ratio))).quantize(CENT))
    shares = {
        "days_past_due": _text(dpd),
        "product_type": _text(products),
        "legal_status": _text(_mix(rng, LEGAL, 0.7)),
        "region": _text(_mix(rng, REGIONS, 0.7)),
        "vintage": _text(_mix(rng, ["2017", "2018", "2019", "2020", "2021"], 1.0)),
        "dpd_product": _text(cross),
    }
    wa_dpd = sum(s * _DPD_MID.get(b, 1600) for b, s in dpd.items())
    loans = rng.randint(500, 40_000)
    return Deal(
        seller=seller,
        synthetic=True,
        currency="CNY",
        completed_at=completed_at,
        quarter=quarter_of(completed_at),
        price=price,
        total_principal=principal,
        total_interest=(balance * Decimal("0.15")).quantize(CENT),
        total_fees=balance - principal - (balance * Decimal("0.15")).quantize(CENT),
        total_balance=balance,
        price_to_balance=share(price, balance),
        price_to_principal=share(price, principal),
        loan_count=loans,
        borrower_count=max(1, int(loans * 0.93)),
        qualified_bidders=rng.randint(1, 6),
        bid_count=rng.randint(1, 25),
        weighted_avg_days_past_due=Decimal(wa_dpd).quantize(CENT),
        product_type=largest(shares["product_type"]),
        dpd_bucket=dpd_bucket_of(Decimal(wa_dpd)),
        legal_status=largest(shares["legal_status"]),
        region=largest(shares["region"]),
        shares=shares,
    )


def _text(shares: dict[str, float]) -> dict[str, str]:
    return {key: f"{value:.6f}" for key, value in shares.items()}


def synthetic_history(
    *,
    count: int,
    sellers: Sequence[Organization],
    seed: int = 13,
    quarters: int = 12,
    now: dt.datetime,
    noise: float = 0.12,
) -> list[Deal]:
    """``count`` unsaved synthetic deals spread over the ``quarters`` before ``now``."""
    rng = random.Random(seed)  # noqa: S311  (reproducible statistics, not secrets)
    span = dt.timedelta(days=91 * quarters)
    return [
        synthetic_deal(
            rng,
            sellers[rng.randrange(len(sellers))],
            now - span + dt.timedelta(seconds=rng.uniform(0, span.total_seconds())),
            noise,
        )
        for _ in range(count)
    ]
