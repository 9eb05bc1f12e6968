"""Disclosure summary and stratification, computed in SQL once per successful import.

Balance = principal + interest + fees; weighted averages are weighted by balance (API.md).
Rounding: money to cents, weighted averages to 2 places, balance shares to 4 places, all
ROUND_HALF_UP (PostgreSQL's ``round(numeric)`` rounds half away from zero; amounts are >= 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection

from listings.models import LoanTapeImport, Package

DPD_BUCKETS = ["0-89", "90-180", "181-365", "366-730", "731-1095", "1096+"]
BALANCE_BUCKETS = ["0-5000", "5000-20000", "20000-50000", "50000-100000", "100000+"]
DIMENSIONS = ["days_past_due", "balance", "region", "product_type", "vintage", "legal_status"]

# Planner costs that keep it from spreading a million-row aggregate over the cores (the
# defaults assume a busy server with many sessions; an import is one big query on its own).
PARALLEL_SETTINGS = (
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "min_parallel_table_scan_size",
    "min_parallel_index_scan_size",
)

# Bucket numbers (indexes into the lists above): integer keys hash and compare cheaply.
_DPD_SQL = """CASE WHEN days_past_due <= 89 THEN 0 WHEN days_past_due <= 180 THEN 1
    WHEN days_past_due <= 365 THEN 2 WHEN days_past_due <= 730 THEN 3
    WHEN days_past_due <= 1095 THEN 4 ELSE 5 END"""
_BALANCE_SQL = """CASE WHEN balance < 5000 THEN 0 WHEN balance < 20000 THEN 1
    WHEN balance < 50000 THEN 2 WHEN balance < 100000 THEN 3 ELSE 4 END"""


# The first column of the totals' and the borrowers' rows (GROUPING() of the strata is 0-63).
_TOTALS = -2
_BORROWERS = -1
# GROUPING() of the (days past due, product type) cross rows: the market's pricing features.
_DPD_BY_PRODUCT = 0b011011
_ZERO = Decimal(0)
SHARE_6 = Decimal("0.000001")


def _money(value: Any) -> str | None:
    if value is None:
        return None
    return str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def package_compute_disclosure(*, package: Package, tape: LoanTapeImport) -> None:
    """Fill the package's summary fields and stratification from the tape's loans (no save).

    One statement, three aggregates: the loans grouped by every stratification key at once and
    rolled up per dimension, the summary's other sums, and the loans grouped by borrower for
    their count and the largest borrower exposure. Every figure is an exact numeric sum,
    rounded once here."""
    sums = _fold(_aggregate(tape))
    stratification = {
        dimension: _table(dimension, sums.strata[dimension], sums.balance)
        for dimension in DIMENSIONS
    }
    package.loan_count = sums.count
    package.borrower_count = sums.borrowers
    package.total_principal = sums.principal
    package.total_interest = sums.interest
    package.total_fees = sums.fees
    package.total_balance = sums.balance
    package.weighted_avg_days_past_due = _weighted(sums.dpd_weight, sums.balance)
    package.weighted_avg_borrower_age = _weighted(sums.age_weight, sums.age_balance)
    package.max_borrower_balance = sums.max_borrower
    package.avg_borrower_balance = (
        (sums.balance / sums.borrowers).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if sums.borrowers
        else None
    )
    package.litigation_mix = {r["bucket"]: r["loan_count"] for r in stratification["legal_status"]}
    package.product_mix = {r["bucket"]: r["loan_count"] for r in stratification["product_type"]}
    package.stratification = stratification
    package.dpd_product_mix = {
        key: str((b / sums.balance).quantize(SHARE_6, rounding=ROUND_HALF_UP))
        for key, b in sorted(sums.dpd_product.items())
        if sums.balance
    }


# The aggregates are the branches of a UNION ALL, their rows told apart by the first column:
# - strata: fine groups first (one hash aggregate over the loans), then one roll-up of those
#   groups per dimension plus the grand total (GROUPING SETS over a few tens of thousands of
#   rows), so only about sixty rows come back to Python;
# - totals (one row): the sums only the summary needs, kept out of the fine groups;
# - borrowers (one row): their count and largest total (in the n and balance columns).
_AGGREGATES = f"""
    SELECT GROUPING(dpd, bal, region, product_type, vintage, legal_status),
           dpd, bal, region, product_type, vintage, legal_status,
           sum(n)::bigint, sum(b), sum(dpd_b), NULL, NULL, NULL, NULL, NULL
    FROM (
        SELECT dpd, bal, region, product_type, vintage, legal_status,
               count(*) AS n, sum(balance) AS b, sum(days_past_due * balance) AS dpd_b
        FROM (
            SELECT {_DPD_SQL} AS dpd, {_BALANCE_SQL} AS bal, region, product_type,
                   date_part('year', origination_date)::int AS vintage, legal_status,
                   days_past_due, balance
            FROM listings_loan WHERE tape_import_id = %(tape)s
        ) loans
        GROUP BY 1, 2, 3, 4, 5, 6
    ) g
    GROUP BY GROUPING SETS ((dpd), (bal), (region), (product_type), (vintage),
                            (legal_status), (dpd, product_type), ())
    UNION ALL
    SELECT %(totals)s, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           sum(outstanding_principal), sum(accrued_interest), sum(fees_and_penalties),
           COALESCE(sum(borrower_age * balance), 0),
           COALESCE(sum(balance) FILTER (WHERE borrower_age IS NOT NULL), 0)
    FROM listings_loan WHERE tape_import_id = %(tape)s
    UNION ALL
    SELECT %(borrowers)s, NULL, NULL, NULL, NULL, NULL, NULL, count(*), max(total),
           NULL, NULL, NULL, NULL, NULL, NULL
    FROM (
        SELECT sum(balance) AS total FROM listings_loan
        WHERE tape_import_id = %(tape)s
        GROUP BY borrower_hash
    ) b
"""  # noqa: S608  (fixed SQL fragments, no input)


def _aggregate(tape: LoanTapeImport) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        # A few tens of thousands of groups: hashing them in memory beats sorting a million
        # rows (which spills to disk); the import's work_mem leaves room for the hash aggregates.
        cursor.execute("SET LOCAL enable_sort = off")
        # The branches of the UNION ALL run at once in separate processes (a Parallel Append:
        # parallel workers see this transaction's own new rows) when starting workers is free.
        # Each branch is an aggregate that one process must finish on its own, so this keeps
        # the cores busy where parallel scans under each aggregate would not.
        for setting in PARALLEL_SETTINGS:
            cursor.execute(f"SET LOCAL {setting} = 0")
        # The tape's rows through the (tape_import, loan_id) index, never a scan of every
        # tape's loans (the statistics of a tape loaded in this transaction are unknown).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(_AGGREGATES, {"tape": tape.pk, "totals": _TOTALS, "borrowers": _BORROWERS})
        groups: list[tuple[Any, ...]] = cursor.fetchall()
        cursor.execute("SET LOCAL enable_sort = on")
        cursor.execute("SET LOCAL enable_seqscan = on")
        for setting in PARALLEL_SETTINGS:
            cursor.execute(f"SET LOCAL {setting} TO DEFAULT")
    return groups


@dataclass
class _Sums:
    count: int = 0
    principal: Decimal = _ZERO
    interest: Decimal = _ZERO
    fees: Decimal = _ZERO
    balance: Decimal = _ZERO
    dpd_weight: Decimal = _ZERO
    age_weight: Decimal = _ZERO
    age_balance: Decimal = _ZERO
    borrowers: int = 0  # the borrowers' row always comes (count of no rows is 0)
    max_borrower: Decimal | None = None
    # dimension -> key -> (loan_count, total_balance, sum(dpd * balance))
    strata: dict[str, dict[str, tuple[int, Decimal, Decimal]]] = field(
        default_factory=lambda: {name: {} for name in DIMENSIONS}
    )
    # "<dpd bucket>|<product type>" -> balance
    dpd_product: dict[str, Decimal] = field(default_factory=dict)


def _fold(groups: list[tuple[Any, ...]]) -> _Sums:
    sums = _Sums()
    all_keys = 0b111111  # GROUPING() of the grand-total row: every key rolled up
    for grouping, dpd, bal, region, product, vintage, legal, n, b, dpd_b, *totals in groups:
        if grouping == _BORROWERS:
            sums.borrowers, sums.max_borrower = n, b
        elif grouping == _TOTALS:  # sums over no rows are NULL
            sums.principal, sums.interest, sums.fees, sums.age_weight, sums.age_balance = (
                t or _ZERO for t in totals
            )
        elif grouping == _DPD_BY_PRODUCT:
            sums.dpd_product[f"{DPD_BUCKETS[dpd]}|{product}"] = b
        elif grouping == all_keys:
            sums.count, sums.balance, sums.dpd_weight = n or 0, b or _ZERO, dpd_b or _ZERO
        else:
            dimension, key = _stratum(dpd, bal, region, product, vintage, legal)
            sums.strata[dimension][key] = (n, b, dpd_b)
    return sums


def _stratum(
    dpd: int | None,
    bal: int | None,
    region: str | None,
    product: str | None,
    vintage: int | None,
    legal: str,
) -> tuple[str, str]:
    """The dimension and bucket of a roll-up row (only its own key is not NULL)."""
    if dpd is not None:
        return "days_past_due", DPD_BUCKETS[dpd]
    if bal is not None:
        return "balance", BALANCE_BUCKETS[bal]
    if region is not None:
        return "region", region
    if product is not None:
        return "product_type", product
    if vintage is not None:
        return "vintage", str(vintage)
    return "legal_status", legal


def _table(
    dimension: str, rows: dict[str, tuple[int, Decimal, Decimal]], total: Decimal
) -> list[dict[str, Any]]:
    if dimension == "days_past_due":
        keys = DPD_BUCKETS
    elif dimension == "balance":
        keys = BALANCE_BUCKETS
    else:
        keys = sorted(rows)
    table = []
    for key in keys:
        n, bucket_balance, bucket_dpd_weight = rows.get(key) or (0, _ZERO, _ZERO)
        wa = _weighted(bucket_dpd_weight, bucket_balance)
        table.append(_row(key, n, bucket_balance, total, wa))
    return table


def _weighted(weighted_sum: Decimal, weights: Decimal) -> Decimal | None:
    if not weights:
        return None
    return (Decimal(weighted_sum) / Decimal(weights)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def _row(
    bucket: str, count: int, bucket_total: Decimal, total: Decimal, wa: Decimal | None
) -> dict[str, Any]:
    share = (
        (bucket_total / total).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if total
        else Decimal("0.0000")
    )
    return {
        "bucket": bucket,
        "loan_count": count,
        "total_balance": _money(bucket_total),
        "balance_share": str(share),
        "weighted_avg_days_past_due": None if wa is None else str(wa),
    }
