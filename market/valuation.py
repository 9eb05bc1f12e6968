"""Indicative valuation of a package from the deal history (``market.model``), cached.

The history (every deal's features and price share) and the model fitted on it are kept in
the process and refitted only when the deals change (``market.versions``), so a request
costs one small query, one matrix product and one similarity scan. A package that is itself a
deal (sold) is valued by a model fitted without its own deal, and never lists itself as a
comparable.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from numpy.typing import NDArray

from listings.models import Package
from market import model
from market.codes import ErrorCode
from market.deals import package_shares
from market.index import MIN_CELL_SELLERS
from market.segments import FEATURES, feature_vector
from market.versions import deals_version
from marketplace.common.errors import DomainError
from marketplace.common.money import CENT

COMPARABLES = 10
SIX_PLACES = Decimal("0.000001")


class InsufficientData(DomainError):
    status_code = 409
    code = ErrorCode.INSUFFICIENT_DATA
    default_detail = "Too few completed sales to value this package."


@dataclass(frozen=True)
class History:
    version: tuple[int, int]  # market.versions.deals_version() when loaded
    ids: NDArray[np.int64]
    sellers: NDArray[np.int64]
    packages: NDArray[np.int64]  # 0 for a synthetic deal
    quarters: list[str]
    loan_counts: NDArray[np.int64]
    x: model.Matrix
    y: model.Matrix
    fitted: model.Fit | None  # None below the minimum

    def enough(self, mask: NDArray[np.bool_]) -> bool:
        deals = int(mask.sum())
        sellers = len(np.unique(self.sellers[mask]))
        return deals >= settings.MARKET_VALUATION_MIN_DEALS and sellers >= MIN_CELL_SELLERS


_cache: History | None = None
_lock = threading.Lock()


def history() -> History:
    """The deal history and its fitted model; reloaded and refitted only when deals changed."""
    global _cache
    version = deals_version()
    cached = _cache
    if cached is not None and cached.version == version:
        return cached
    with _lock:
        if _cache is None or _cache.version != version:
            _cache = _load(version)
        return _cache


# The features straight out of the JSON, as floats, by PostgreSQL (fixed names, no input).
_FEATURE_SQL = ", ".join(
    f"COALESCE((shares -> 'dpd_product' ->> '{name}')::float8, 0)" for name in FEATURES
)


def _load(version: tuple[int, int]) -> History:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, seller_id, COALESCE(package_id, 0), quarter, loan_count,"  # noqa: S608
            f" price_to_balance::float8, {_FEATURE_SQL} FROM market_deal ORDER BY id"
        )
        rows = cursor.fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.array([r[6:] for r in rows], dtype=np.float64).reshape(-1, len(FEATURES))
    y = np.array([r[5] for r in rows], dtype=np.float64)
    loaded = History(
        version=version,
        ids=ids,
        sellers=np.array([r[1] for r in rows], dtype=np.int64),
        packages=np.array([r[2] for r in rows], dtype=np.int64),
        quarters=[r[3] for r in rows],
        loan_counts=np.array([r[4] for r in rows], dtype=np.int64),
        x=x,
        y=y,
        fitted=None,
    )
    everything = np.ones(len(rows), dtype=bool)
    if not loaded.enough(everything):
        return loaded
    return replace(loaded, fitted=model.fit(x, y))


def package_valuation(*, package: Package) -> dict[str, Any]:
    """Low, point and high price of the package, the model's error and the comparables used.
    Raises InsufficientData below the minimum number of deals (or of distinct sellers)."""
    if package.total_balance <= 0:
        raise InsufficientData("The package has no loan balance to value.")
    past = history()
    others = past.packages != package.pk
    if not past.enough(others):
        raise InsufficientData(
            extra={"deals": int(others.sum()), "minimum": settings.MARKET_VALUATION_MIN_DEALS}
        )
    fitted = past.fitted
    if fitted is None or not others.all():  # the package's own sale stays out of its model
        fitted = model.fit(past.x[others], past.y[others])
    row = np.array(feature_vector(package_shares(package)["dpd_product"]), dtype=np.float64)
    point = max(0.0, float(fitted.predict(row)))
    ratios = {
        "low": max(0.0, point - fitted.halfwidth),
        "point": point,
        "high": point + fitted.halfwidth,
    }
    return {
        **_amounts(ratios, package.total_balance),
        "method": "nnls_dpd_product_shares",
        "deals_used": int(others.sum()),
        "model_error": _six(fitted.rmse),
        "model_mae": _six(fitted.mae),
        "range_coverage": _six(model.RANGE_COVERAGE),
        "folds": model.FOLDS,
        "coefficients": {k: _six(v) for k, v in model.coefficients(fitted).items()},
        "comparables": _comparables(past, others, row),
    }


def _six(value: float) -> str:
    return str(Decimal(repr(value)).quantize(SIX_PLACES))


def _amounts(ratios: dict[str, float], balance: Decimal) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, ratio in ratios.items():
        share = Decimal(_six(ratio))
        out[name] = str((share * balance).quantize(CENT))
        out[f"price_to_balance_{name}"] = str(share)
    return out


def _comparables(past: History, mask: NDArray[np.bool_], row: model.Matrix) -> list[dict[str, Any]]:
    """The most similar past deals (never the package's own), by an opaque reference."""
    candidates = np.flatnonzero(mask)
    scores = model.similarity(past.x[candidates], row)
    order = np.argsort(-scores, kind="stable")[:COMPARABLES]
    return [
        {
            "ref": comparable_ref(int(past.ids[candidates[i]])),
            "quarter": past.quarters[candidates[i]],
            "loan_count": int(past.loan_counts[candidates[i]]),
            "price_to_balance": _six(float(past.y[candidates[i]])),
            "similarity": _six(max(0.0, float(scores[i]))),
        }
        for i in order
        if scores[i] > 0
    ]


def comparable_ref(deal_id: int) -> str:
    """An opaque, stable reference to a deal: a keyed hash, never an id."""
    key = hmac.new(settings.SECRET_KEY.encode(), b"market-comparable-ref", hashlib.sha256).digest()
    return "cmp_" + hmac.new(key, str(deal_id).encode(), hashlib.sha256).hexdigest()[:20]
