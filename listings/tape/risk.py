"""Risk signals of a tape, computed in SQL with the disclosure, in the import transaction.

Concentration and mix figures come from the disclosure just computed (stratification and
summary); one more statement over the tape's loans adds what the disclosure does not hold:
the top-10 borrowers' share, the share past five years overdue, the most repeated balance,
cells at the format's limits, days past due inconsistent with the dates, and borrowers who
also hold loans in the seller's other listed packages (as of this import). Each flag is a rule
of ``RULES``: a code, the figure it reads, its threshold and severity (docs/MARKET.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from listings.models import LegalStatus, LoanTapeImport, Package, PackageStatus

FIVE_YEARS_DAYS = 5 * 365
LITIGATION = (LegalStatus.IN_LITIGATION, LegalStatus.JUDGMENT_OBTAINED, LegalStatus.ENFORCEMENT)
LISTED = (PackageStatus.PENDING_REVIEW, PackageStatus.APPROVED, PackageStatus.IN_AUCTION)
TEXT_LIMIT = 100  # loan_id and region (listings.tape.format)
SHARE = Decimal("0.0001")


@dataclass(frozen=True)
class Rule:
    code: str
    figure: str  # a key of the figures
    threshold: Callable[[dict[str, Any]], Decimal]  # raised when the figure exceeds it
    severity: str  # info, warning, high


def _fixed(value: str) -> Callable[[dict[str, Any]], Decimal]:
    return lambda figures: Decimal(value)


def _repeat_threshold(figures: dict[str, Any]) -> Decimal:
    # Chance repeats in a large tape are normal; one balance on over 1% of loans (and 10) is not.
    return Decimal(max(10, math.ceil(figures["loan_count"] / 100)))


RULES = (
    Rule("top10_borrower_concentration", "top10_borrower_share", _fixed("0.10"), "warning"),
    Rule("largest_borrower_concentration", "largest_borrower_share", _fixed("0.02"), "warning"),
    Rule("region_concentration", "region_hhi", _fixed("0.25"), "info"),
    Rule("product_concentration", "product_hhi", _fixed("0.50"), "info"),
    Rule("wide_vintage_spread", "vintage_spread_years", _fixed("10"), "info"),
    Rule("long_overdue", "share_over_5_years_overdue", _fixed("0.25"), "warning"),
    Rule("litigation_or_enforcement", "share_in_litigation_or_enforcement", _fixed("0.50"), "info"),
    Rule("borrowers_in_other_packages", "borrowers_in_other_packages", _fixed("0"), "warning"),
    Rule("cells_at_format_limits", "cells_at_format_limits", _fixed("0"), "warning"),
    Rule(
        "repeated_identical_balances", "max_loans_with_same_balance", _repeat_threshold, "warning"
    ),
    Rule("dpd_inconsistent_with_dates", "dpd_inconsistent_with_dates", _fixed("0"), "high"),
)

# Three index scans of the tape's rows: by borrower (hashed, top ten by a bounded sort), by
# balance (hashed, the most repeated), and the per-loan counts. Measured against folding them
# into one GROUPING SETS scan, which was slower (docs/BENCHMARKS.md, "Market data").
_SIGNALS = f"""
    SELECT
        (SELECT COALESCE(sum(total), 0) FROM (
            SELECT sum(balance) AS total FROM listings_loan WHERE tape_import_id = %(tape)s
            GROUP BY borrower_hash ORDER BY total DESC LIMIT 10) top),
        (SELECT COALESCE(max(n), 0) FROM (
            SELECT count(*) AS n FROM listings_loan WHERE tape_import_id = %(tape)s
            GROUP BY balance) repeats),
        COALESCE(sum(balance) FILTER (WHERE days_past_due > {FIVE_YEARS_DAYS}), 0),
        count(*) FILTER (WHERE borrower_age IN (18, 100) OR length(loan_id) >= {TEXT_LIMIT}
                         OR length(region) >= {TEXT_LIMIT}),
        count(*) FILTER (WHERE days_past_due > %(cut_off)s::date - origination_date)
    FROM listings_loan WHERE tape_import_id = %(tape)s
"""  # noqa: S608  (fixed SQL fragments, values as parameters)

# Borrowers of this tape who also hold loans in the seller's other listed packages; run only
# when there are such packages (otherwise 0, without scanning the tape again).
_SHARED = """
    SELECT count(DISTINCT l.borrower_hash) FROM listings_loan l
    WHERE l.tape_import_id = %(tape)s AND l.borrower_hash IN (
        SELECT o.borrower_hash FROM listings_loan o WHERE o.tape_import_id = ANY(%(others)s))
"""


def package_compute_risk(*, package: Package, tape: LoanTapeImport) -> None:
    """Fill ``package.risk`` from its fresh disclosure and one statement over the tape (no
    save). Runs in the import transaction, after ``package_compute_disclosure``."""
    others = list(
        Package.objects.filter(seller_id=package.seller_id, status__in=LISTED)
        .exclude(pk=package.pk)
        .exclude(current_tape__isnull=True)
        .values_list("current_tape_id", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the tape's rows through its index
        cursor.execute("SET LOCAL enable_sort = off")  # hash the groupings, never sort them
        cursor.execute(_SIGNALS, {"tape": tape.pk, "cut_off": package.cut_off_date})
        row = cursor.fetchone()
        shared = 0
        if others:
            cursor.execute(_SHARED, {"tape": tape.pk, "others": others})
            shared = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_sort = on")
        cursor.execute("SET LOCAL enable_seqscan = on")
    assert row is not None
    package.risk = risk_report(package, (*row, shared))


def risk_report(package: Package, row: tuple[Any, ...]) -> dict[str, Any]:
    top10, repeats, over_five, at_limits, inconsistent, shared = row
    total = package.total_balance
    strat = package.stratification or {}
    vintages = [int(r["bucket"]) for r in strat.get("vintage", []) if r["loan_count"]]
    figures: dict[str, Any] = {
        "loan_count": package.loan_count,
        "top10_borrower_share": _share(top10, total),
        "largest_borrower_share": _share(package.max_borrower_balance or 0, total),
        "region_hhi": _hhi(strat.get("region", []), total),
        "product_hhi": _hhi(strat.get("product_type", []), total),
        "vintage_spread_years": max(vintages) - min(vintages) if vintages else 0,
        "share_over_5_years_overdue": _share(over_five, total),
        "share_in_litigation_or_enforcement": _share(
            sum(
                Decimal(r["total_balance"])
                for r in strat.get("legal_status", [])
                if r["bucket"] in LITIGATION
            ),
            total,
        ),
        "borrowers_in_other_packages": shared,
        "cells_at_format_limits": at_limits,
        "max_loans_with_same_balance": repeats,
        "dpd_inconsistent_with_dates": inconsistent,
    }
    return {
        "flags": [flag for rule in RULES if (flag := _flag(rule, figures)) is not None],
        "concentration": {
            key: str(figures[key])
            for key in (
                "top10_borrower_share",
                "largest_borrower_share",
                "region_hhi",
                "product_hhi",
            )
        },
        "vintage_spread_years": figures["vintage_spread_years"],
        "share_over_5_years_overdue": str(figures["share_over_5_years_overdue"]),
        "share_in_litigation_or_enforcement": str(figures["share_in_litigation_or_enforcement"]),
        "borrowers_in_other_packages": shared,
        "data_quality": {
            "cells_at_format_limits": at_limits,
            "max_loans_with_same_balance": repeats,
            "dpd_inconsistent_with_dates": inconsistent,
        },
        "computed_at": timezone.now().isoformat(),
    }


def _flag(rule: Rule, figures: dict[str, Any]) -> dict[str, Any] | None:
    value = Decimal(figures[rule.figure])
    threshold = rule.threshold(figures)
    if value <= threshold:
        return None
    return {
        "code": rule.code,
        "value": str(figures[rule.figure]),
        "threshold": str(threshold),
        "severity": rule.severity,
    }


def _share(part: Any, total: Decimal) -> Decimal:
    if not total:
        return Decimal("0").quantize(SHARE)
    return (Decimal(part) / total).quantize(SHARE, rounding=ROUND_HALF_UP)


def _hhi(rows: list[dict[str, Any]], total: Decimal) -> Decimal:
    """Herfindahl-Hirschman index of balance shares: 1 for one bucket, 1/n for n equal ones."""
    if not total:
        return Decimal("0").quantize(SHARE)
    squares = sum((Decimal(r["total_balance"]) / total) ** 2 for r in rows)
    return Decimal(squares).quantize(SHARE, rounding=ROUND_HALF_UP)
