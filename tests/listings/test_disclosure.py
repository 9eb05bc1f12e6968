"""Package summary and stratification (API.md) against an independent recomputation.

Balance = principal + interest + fees; weights are balances. Money to the cent, weighted
averages to 2 places, balance shares to 4 places, all ROUND_HALF_UP.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from listings.tape_generator import write_tape
from tests.listings.conftest import (
    CUT_OFF,
    PORTFOLIO,
    import_via_api,
    loan_row,
    tape_csv,
)

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
DPD_BUCKETS = [
    ("0-89", 0, 89),
    ("90-180", 90, 180),
    ("181-365", 181, 365),
    ("366-730", 366, 730),
    ("731-1095", 731, 1095),
    ("1096+", 1096, None),
]
BALANCE_BUCKETS = [
    ("0-5000", Decimal(0), Decimal(5000)),
    ("5000-20000", Decimal(5000), Decimal(20000)),
    ("20000-50000", Decimal(20000), Decimal(50000)),
    ("50000-100000", Decimal(50000), Decimal(100000)),
    ("100000+", Decimal(100000), None),
]


def _round(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return str(_round(value, "0.01"))


def _dpd_bucket(dpd: int) -> str:
    return next(
        name for name, low, high in DPD_BUCKETS if dpd >= low and (high is None or dpd <= high)
    )


def _balance_bucket(balance: Decimal) -> str:
    return next(
        name
        for name, low, high in BALANCE_BUCKETS
        if balance >= low and (high is None or balance < high)
    )


def _loans_of(content: str) -> list[dict]:
    loans = []
    for row in csv.DictReader(content.splitlines()):
        principal = Decimal(row["outstanding_principal"])
        interest = Decimal(row["accrued_interest"])
        fees = Decimal(row["fees_and_penalties"] or "0")
        loans.append(
            {
                "borrower_id": row["borrower_id"],
                "principal": principal,
                "interest": interest,
                "fees": fees,
                "balance": principal + interest + fees,
                "dpd": int(row["days_past_due"]),
                "age": int(row["borrower_age"]) if row["borrower_age"] else None,
                "region": row["region"],
                "product_type": row["product_type"],
                "vintage": row["origination_date"][:4],
                "legal_status": row["legal_status"],
            }
        )
    return loans


def _weighted_dpd(loans: list[dict]) -> str | None:
    weight = sum((loan["balance"] for loan in loans), Decimal(0))
    if not weight:
        return None
    return str(_round(sum(loan["dpd"] * loan["balance"] for loan in loans) / weight, "0.01"))


def expected_disclosure(loans: list[dict]) -> tuple[dict, dict]:
    """The summary fields and stratification tables, computed here from the parsed tape."""
    total = sum((loan["balance"] for loan in loans), Decimal(0))
    by_borrower: dict[str, Decimal] = defaultdict(Decimal)
    for loan in loans:
        by_borrower[loan["borrower_id"]] += loan["balance"]
    aged = [loan for loan in loans if loan["age"] is not None]
    aged_weight = sum((loan["balance"] for loan in aged), Decimal(0))
    summary = {
        "loan_count": len(loans),
        "borrower_count": len(by_borrower),
        "total_principal": _money(sum(loan["principal"] for loan in loans)),
        "total_interest": _money(sum(loan["interest"] for loan in loans)),
        "total_fees": _money(sum(loan["fees"] for loan in loans)),
        "total_balance": _money(total),
        "weighted_avg_days_past_due": _weighted_dpd(loans),
        "weighted_avg_borrower_age": str(
            _round(sum(loan["age"] * loan["balance"] for loan in aged) / aged_weight, "0.01")
        ),
        "max_borrower_balance": _money(max(by_borrower.values())),
        "avg_borrower_balance": _money(total / len(by_borrower)),
        "litigation_mix": dict(Counter(loan["legal_status"] for loan in loans)),
        "product_mix": dict(Counter(loan["product_type"] for loan in loans)),
    }

    def table(key_of, keys=None) -> list[dict]:
        groups: dict[str, list[dict]] = defaultdict(list)
        for loan in loans:
            groups[key_of(loan)].append(loan)
        rows = []
        for key in keys if keys is not None else sorted(groups):
            members = groups.get(key, [])
            balance = sum((loan["balance"] for loan in members), Decimal(0))
            rows.append(
                {
                    "bucket": key,
                    "loan_count": len(members),
                    "total_balance": _money(balance),
                    "balance_share": str(_round(balance / total, "0.0001")),
                    "weighted_avg_days_past_due": _weighted_dpd(members),
                }
            )
        return rows

    stratification = {
        "days_past_due": table(lambda loan: _dpd_bucket(loan["dpd"]), [b[0] for b in DPD_BUCKETS]),
        "balance": table(
            lambda loan: _balance_bucket(loan["balance"]), [b[0] for b in BALANCE_BUCKETS]
        ),
        "region": table(lambda loan: loan["region"]),
        "product_type": table(lambda loan: loan["product_type"]),
        "vintage": table(lambda loan: loan["vintage"]),
        "legal_status": table(lambda loan: loan["legal_status"]),
    }
    return summary, stratification


def _api(client, package_id: int) -> tuple[dict, dict]:
    detail = client.get(f"/api/v1/packages/{package_id}/")
    strat = client.get(f"/api/v1/packages/{package_id}/stratification/")
    assert detail.status_code == 200 and strat.status_code == 200
    return detail.json(), strat.json()


def test_generated_tape_summary_and_stratification_match_a_recomputation(
    seller_client, package, tmp_path
):
    path = write_tape(tmp_path / "tape.csv", 3000, seed=11, cut_off=CUT_OFF)
    content = path.read_bytes()
    loans = _loans_of(content.decode("utf-8"))
    expected_summary, expected_strat = expected_disclosure(loans)
    # The generated tape exercises what the recomputation checks.
    assert expected_summary["borrower_count"] < len(loans)  # repeat borrowers
    assert any(loan["age"] is None for loan in loans)
    assert all(row["loan_count"] for row in expected_strat["days_past_due"])

    status = import_via_api(seller_client, package.pk, content)
    assert status["status"] == "succeeded", status["errors"][:5]
    detail, strat = _api(seller_client, package.pk)

    assert {key: detail[key] for key in expected_summary} == expected_summary
    assert set(strat) == set(expected_strat)
    for dimension, rows in expected_strat.items():
        assert strat[dimension] == rows, dimension


def test_summary_of_a_small_portfolio_by_hand(seller_client, package):
    """Borrowers B1 (two loans) and B2; B2 has no age. Worked out by hand."""
    rows = [
        loan_row(1, borrower_id="B1", outstanding_principal="1000.00", accrued_interest="200.00",
                 fees_and_penalties="", days_past_due="100", borrower_age="40"),
        loan_row(2, borrower_id="B1", outstanding_principal="500.00", accrued_interest="0.00",
                 fees_and_penalties="300.00", days_past_due="1000", borrower_age="40"),
        loan_row(3, borrower_id="B2", outstanding_principal="3000.01", accrued_interest="0.00",
                 fees_and_penalties="0.00", days_past_due="0", borrower_age="",
                 product_type="consumer_loan", legal_status="settled"),
    ]  # fmt: skip

    import_via_api(seller_client, package.pk, tape_csv(rows))
    detail, strat = _api(seller_client, package.pk)

    # Balances 1200.00, 800.00, 3000.01; total 5000.01.
    assert detail["loan_count"] == 3
    assert detail["borrower_count"] == 2
    assert detail["total_principal"] == "4500.01"
    assert detail["total_interest"] == "200.00"
    assert detail["total_fees"] == "300.00"
    assert detail["total_balance"] == "5000.01"
    # (100*1200 + 1000*800 + 0) / 5000.01 = 183.9996... -> 184.00
    assert detail["weighted_avg_days_past_due"] == "184.00"
    # Only B1's loans have an age: 40.
    assert detail["weighted_avg_borrower_age"] == "40.00"
    assert detail["max_borrower_balance"] == "3000.01"
    # 5000.01 / 2 = 2500.005 -> 2500.01 (half up)
    assert detail["avg_borrower_balance"] == "2500.01"
    assert detail["litigation_mix"] == {"not_sued": 2, "settled": 1}
    assert detail["product_mix"] == {"credit_card": 2, "consumer_loan": 1}
    assert strat["balance"][0] == {
        "bucket": "0-5000",
        "loan_count": 3,
        "total_balance": "5000.01",
        "balance_share": "1.0000",
        "weighted_avg_days_past_due": "184.00",
    }


def test_bucket_boundaries(seller_client, package):
    """Days past due: both bounds inclusive. Balance: lower bound inclusive."""
    dpds = [89, 90, 180, 181, 365, 366, 730, 731, 1095, 1096]
    balances = ["4999.99", "5000.00", "19999.99", "20000.00", "49999.99", "50000.00",
                "99999.99", "100000.00", "0.00", "250000.00"]  # fmt: skip
    rows = [
        loan_row(n, days_past_due=str(dpd), outstanding_principal=balance,
                 accrued_interest="0.00", fees_and_penalties="0.00")
        for n, (dpd, balance) in enumerate(zip(dpds, balances, strict=True), start=1)
    ]  # fmt: skip

    import_via_api(seller_client, package.pk, tape_csv(rows))
    _, strat = _api(seller_client, package.pk)

    assert [(r["bucket"], r["loan_count"]) for r in strat["days_past_due"]] == [
        ("0-89", 1),
        ("90-180", 2),
        ("181-365", 2),
        ("366-730", 2),
        ("731-1095", 2),
        ("1096+", 1),
    ]
    assert [(r["bucket"], r["loan_count"], r["total_balance"]) for r in strat["balance"]] == [
        ("0-5000", 2, "4999.99"),
        ("5000-20000", 2, "24999.99"),
        ("20000-50000", 2, "69999.99"),
        ("50000-100000", 2, "149999.99"),
        ("100000+", 2, "350000.00"),
    ]


def test_empty_buckets_are_listed_with_zeros(seller_client, package):
    import_via_api(seller_client, package.pk, tape_csv(PORTFOLIO[:1]))  # one loan, 30 dpd
    _, strat = _api(seller_client, package.pk)

    assert [r["bucket"] for r in strat["days_past_due"]] == [b[0] for b in DPD_BUCKETS]
    assert [r["bucket"] for r in strat["balance"]] == [b[0] for b in BALANCE_BUCKETS]
    assert strat["days_past_due"][1] == {
        "bucket": "90-180",
        "loan_count": 0,
        "total_balance": "0.00",
        "balance_share": "0.0000",
        "weighted_avg_days_past_due": None,
    }
    assert strat["days_past_due"][0]["balance_share"] == "1.0000"


def test_portfolio_stratification_matches_a_recomputation(seller_client, package):
    content = tape_csv(PORTFOLIO)
    _, expected = expected_disclosure(_loans_of(content.decode()))

    import_via_api(seller_client, package.pk, content)
    _, strat = _api(seller_client, package.pk)

    assert strat == expected


def test_package_without_a_tape_has_empty_disclosure(seller_client, package):
    detail, strat = _api(seller_client, package.pk)

    assert detail["loan_count"] == 0 and detail["total_balance"] == "0.00"
    assert detail["weighted_avg_days_past_due"] is None
    assert detail["litigation_mix"] == {} and detail["product_mix"] == {}
    assert strat == {
        "days_past_due": [],
        "balance": [],
        "region": [],
        "product_type": [],
        "vintage": [],
        "legal_status": [],
    }


def test_summary_fields_of_api_md(seller_client, loaded_package):
    detail, _ = _api(seller_client, loaded_package.pk)

    assert {
        "id", "title", "status", "seller", "currency", "cut_off_date", "loan_count",
        "borrower_count", "total_principal", "total_interest", "total_fees", "total_balance",
        "weighted_avg_days_past_due", "weighted_avg_borrower_age", "max_borrower_balance",
        "avg_borrower_balance", "litigation_mix", "product_mix", "created_at",
    } <= set(detail)  # fmt: skip
    assert detail["seller"] == {"id": loaded_package.seller_id, "name": loaded_package.seller.name}
    assert detail["cut_off_date"] == "2026-09-30"
    assert detail["currency"] == "EUR"
