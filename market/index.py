"""The price index: completed sales aggregated by quarter and segment, small cells suppressed.

A cell (one combination of the ``group_by`` keys) is shown only when it holds at least
``MIN_CELL_DEALS`` deals of at least ``MIN_CELL_SELLERS`` distinct sellers; otherwise it appears
with ``suppressed: true`` and no figure at all, not even its deal count, so no single sale (nor
one seller's sales) can be read back out of it (docs/MARKET.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection

from listings.models import ProductType
from listings.tape.disclosure import DPD_BUCKETS
from market.segments import SHARE_PLACES
from market.versions import deals_version

MIN_CELL_DEALS = 3
MIN_CELL_SELLERS = 3
# group_by key -> the deal column it groups on (a fixed map: no input reaches the SQL text).
GROUP_COLUMNS = {
    "quarter": "quarter",
    "product_type": "product_type",
    "dpd_bucket": "dpd_bucket",
    "legal_status": "legal_status",
    "region": "region",
}
FIGURES = (
    "deals",
    "sellers",
    "synthetic_deals",
    "total_balance",
    "total_price",
    "price_to_balance",
    "median_price_to_balance",
    "price_to_principal",
)
CACHE_SECONDS = 3600
QUARTER_RE = re.compile(r"^[0-9]{4}Q[1-4]$")
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class IndexQuery:
    group_by: tuple[str, ...] = ("quarter",)
    quarter_from: str | None = None
    quarter_to: str | None = None
    product_type: str | None = None
    currency: str | None = None


def index_query_parse(params: Any) -> tuple[IndexQuery | None, dict[str, list[str]]]:
    """The query from request parameters, or the errors by parameter (nothing else runs)."""
    errors: dict[str, list[str]] = {}
    raw = [part for value in params.getlist("group_by") for part in value.split(",") if part]
    group_by = tuple(dict.fromkeys(raw)) or ("quarter",)
    unknown = [key for key in group_by if key not in GROUP_COLUMNS]
    if unknown:
        errors["group_by"] = [
            f"unknown: {', '.join(unknown)}; one or more of {list(GROUP_COLUMNS)}"
        ]
    bounds = {}
    for name in ("quarter_from", "quarter_to"):
        value = params.get(name)
        if value is not None and not QUARTER_RE.match(value):
            errors[name] = ["a quarter like 2026Q3"]
        bounds[name] = value
    product = params.get("product_type")
    if product is not None and product not in ProductType.values:
        errors["product_type"] = [f"one of {ProductType.values}"]
    currency = params.get("currency")
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = ["an ISO 4217 code"]
    if errors:
        return None, errors
    return IndexQuery(group_by, bounds["quarter_from"], bounds["quarter_to"], product, currency), {}


def _sql(query: IndexQuery) -> tuple[str, list[Any]]:
    columns = [GROUP_COLUMNS[key] for key in query.group_by]
    where, args = ["TRUE"], []
    for clause, value in (
        ("quarter >= %s", query.quarter_from),
        ("quarter <= %s", query.quarter_to),
        ("product_type = %s", query.product_type),
        ("currency = %s", query.currency),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    keys = ", ".join(columns)
    sql = f"""
        SELECT {keys}, count(*), count(DISTINCT seller_id), count(*) FILTER (WHERE synthetic),
               sum(total_balance), sum(price),
               sum(price) / NULLIF(sum(total_balance), 0),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY price_to_balance),
               sum(price) FILTER (WHERE total_principal > 0)
                   / NULLIF(sum(total_principal) FILTER (WHERE total_principal > 0), 0)
        FROM market_deal WHERE {" AND ".join(where)}
        GROUP BY {keys}
    """  # noqa: S608  (column names from GROUP_COLUMNS, values as parameters)
    return sql, args


def price_index_cached(query: IndexQuery) -> list[dict[str, Any]]:
    """``price_index``, kept in the shared cache until the deals change (``deals_version``):
    the index is read far more often than a sale completes."""
    key = "market:index:" + hashlib.sha256(repr((deals_version(), query)).encode()).hexdigest()
    rows: list[dict[str, Any]] | None = cache.get(key)
    if rows is None:
        rows = price_index(query)
        cache.set(key, rows, timeout=CACHE_SECONDS)
    return rows


def price_index(query: IndexQuery) -> list[dict[str, Any]]:
    """The index rows, ordered by segment (quarters in time order, DPD buckets in their order)."""
    sql, args = _sql(query)
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        fetched = cursor.fetchall()
    width = len(query.group_by)
    rows = [_row(query.group_by, values[:width], values[width:]) for values in fetched]
    rows.sort(key=lambda row: _order(query.group_by, row["segment"]))
    return rows


def _row(group_by: Sequence[str], keys: Sequence[Any], figures: Sequence[Any]) -> dict[str, Any]:
    segment = dict(zip(group_by, keys, strict=True))
    deals, sellers, synthetic, balance, price, ptb, median, ptp = figures
    if deals < MIN_CELL_DEALS or sellers < MIN_CELL_SELLERS:
        return {"segment": segment, "suppressed": True}
    return {
        "segment": segment,
        "suppressed": False,
        "deals": deals,
        "sellers": sellers,
        "synthetic_deals": synthetic,
        "total_balance": str(Decimal(balance).quantize(CENTS)),
        "total_price": str(Decimal(price).quantize(CENTS)),
        "price_to_balance": _ratio(ptb),
        "median_price_to_balance": _ratio(median),
        "price_to_principal": _ratio(ptp),
    }


def _ratio(value: Any) -> str | None:
    # percentile_cont answers a double: its text form is exact enough for 6 places.
    return None if value is None else str(Decimal(str(value)).quantize(SHARE_PLACES))


def _order(group_by: Sequence[str], segment: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        (DPD_BUCKETS.index(segment[key]) if segment[key] in DPD_BUCKETS else 99, "")
        if key == "dpd_bucket"
        else (0, str(segment[key]))
        for key in group_by
    )


def index_csv_rows(group_by: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            *(row["segment"][key] for key in group_by),
            row["suppressed"],
            *(row.get(name) for name in FIGURES),
        ]
        for row in rows
    ]
