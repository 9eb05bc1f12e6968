"""Synthetic consumer NPL loan tapes: realistic shapes, deterministic for a seed.

Balances are log-normal (many small, a long tail of large ones); days past due are mostly over a
year; a fifth of borrowers hold several loans; provinces, product and legal-status mixes follow a
typical Chinese personal NPL transfer. With ``errors=K``, K rows carry one defect each, of assorted
kinds (every one a code of the tape format).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Iterator
from pathlib import Path

HEADER = [
    "loan_id",
    "borrower_id",
    "product_type",
    "currency",
    "origination_date",
    "default_date",
    "outstanding_principal",
    "accrued_interest",
    "fees_and_penalties",
    "days_past_due",
    "last_payment_date",
    "last_payment_amount",
    "interest_rate",
    "borrower_age",
    "region",
    "legal_status",
    "classification",
    "written_off",
]
# Provinces and municipalities, weighted roughly by their share of outstanding personal credit.
REGIONS = [
    ("Guangdong", 14),
    ("Jiangsu", 9),
    ("Zhejiang", 9),
    ("Shandong", 7),
    ("Henan", 6),
    ("Sichuan", 6),
    ("Shanghai", 5),
    ("Beijing", 5),
    ("Hubei", 5),
    ("Fujian", 5),
    ("Hunan", 4),
    ("Hebei", 4),
    ("Anhui", 4),
    ("Liaoning", 3),
    ("Shaanxi", 3),
    ("Chongqing", 3),
    ("Guangxi", 2),
    ("Yunnan", 2),
    ("Jiangxi", 2),
    ("Tianjin", 2),
]
PRODUCTS = [("credit_card", 45), ("consumer_loan", 45), ("personal_business_loan", 10)]
LEGAL = [
    ("not_sued", 35),
    ("in_litigation", 15),
    ("judgment_obtained", 25),
    ("enforcement", 15),
    ("enforcement_terminated", 5),
    ("settled", 5),
]
ERROR_KINDS = [
    "bad_product_type",
    "negative_principal",
    "origination_after_cut_off",
    "duplicate_loan_id",
    "currency_mismatch",
    "missing_region",
    "bad_date",
    "three_decimals",
    "age_out_of_range",
    "bad_legal_status",
]


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _money(value: float) -> str:
    return f"{value:.2f}"


def generate_rows(
    rows: int,
    *,
    seed: int = 1,
    currency: str = "EUR",
    cut_off: dt.date = dt.date(2026, 9, 30),
    errors: int = 0,
) -> Iterator[list[str]]:
    rng = random.Random(seed)
    borrower_pool = max(1, int(rows * 1.2))
    error_rows = set(rng.sample(range(rows), min(errors, rows))) if errors else set()
    for index in range(rows):
        # ~15% of loans go to a small set of repeat borrowers.
        if rng.random() < 0.15:
            borrower = rng.randrange(max(1, borrower_pool // 20))
        else:
            borrower = rng.randrange(borrower_pool)
        product = _weighted(rng, PRODUCTS)
        principal, interest, fees = _amounts(rng, product)
        dpd = _days_past_due(rng)
        default_date = cut_off - dt.timedelta(days=dpd)
        origination = default_date - dt.timedelta(days=rng.randint(90, 3650))
        last_payment, last_amount = _last_payment(rng, default_date, origination)
        age = "" if rng.random() < 0.05 else str(max(19, min(90, int(rng.gauss(47, 11)))))
        legal = _weighted(rng, LEGAL)
        classification = "loss" if dpd > 365 else ("doubtful" if dpd > 180 else "substandard")
        written_off = "true" if dpd > 730 and rng.random() < 0.7 else "false"
        row = [
            f"L{seed:03d}-{index + 1:09d}",
            f"B{seed:03d}-{borrower:09d}",
            product,
            currency,
            origination.isoformat(),
            default_date.isoformat(),
            _money(principal),
            _money(interest),
            _money(fees),
            str(dpd),
            last_payment,
            last_amount,
            f"{rng.uniform(4.5, 24):.2f}",
            age,
            _weighted(rng, REGIONS),
            legal,
            classification,
            written_off,
        ]
        if index in error_rows:
            _break(row, rng.choice(ERROR_KINDS), rng, currency, cut_off, index)
        yield row


# The helpers below draw from ``rng`` in the order the rows always have, so a seed keeps
# giving the same tape.


def _amounts(rng: random.Random, product: str) -> tuple[float, float, float]:
    scale = {"credit_card": 3500, "consumer_loan": 12000, "personal_business_loan": 40000}
    principal = min(2_000_000.0, rng.lognormvariate(math.log(scale[product]), 1.0))
    interest = principal * rng.uniform(0.02, 0.6)
    fees = principal * rng.uniform(0, 0.05) if rng.random() < 0.7 else 0.0
    return principal, interest, fees


def _days_past_due(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.05:
        return rng.randint(0, 89)
    if roll < 0.15:
        return rng.randint(90, 365)
    return int(min(4000, 366 + rng.expovariate(1 / 700)))


def _last_payment(
    rng: random.Random, default_date: dt.date, origination: dt.date
) -> tuple[str, str]:
    """(last_payment_date, last_payment_amount), both empty for a fifth of the loans."""
    if rng.random() >= 0.8:
        return "", ""
    last_payment = (default_date - dt.timedelta(days=rng.randint(0, 60))).isoformat()
    if last_payment < origination.isoformat():
        last_payment = origination.isoformat()
    return last_payment, _money(rng.uniform(10, 1500))


def _break(
    row: list[str], kind: str, rng: random.Random, currency: str, cut_off: dt.date, index: int
) -> None:
    col = HEADER.index
    if kind == "bad_product_type":
        row[col("product_type")] = "mortgage"
    elif kind == "negative_principal":
        row[col("outstanding_principal")] = "-" + row[col("outstanding_principal")]
    elif kind == "origination_after_cut_off":
        row[col("origination_date")] = (cut_off + dt.timedelta(days=5)).isoformat()
        row[col("default_date")] = ""
        row[col("last_payment_date")] = ""
    elif kind == "duplicate_loan_id":
        row[col("loan_id")] = row[col("loan_id")].rsplit("-", 1)[0] + "-000000001"
        if index == 0:
            row[col("region")] = ""  # the first row itself: make it fail another way
    elif kind == "currency_mismatch":
        row[col("currency")] = "USD" if currency != "USD" else "EUR"
    elif kind == "missing_region":
        row[col("region")] = ""
    elif kind == "bad_date":
        row[col("origination_date")] = "31/12/2019"
    elif kind == "three_decimals":
        row[col("accrued_interest")] = row[col("accrued_interest")] + "5"
    elif kind == "age_out_of_range":
        row[col("borrower_age")] = "150"
    elif kind == "bad_legal_status":
        row[col("legal_status")] = "bankrupt"


def write_tape(
    path: Path | str,
    rows: int,
    *,
    seed: int = 1,
    currency: str = "EUR",
    cut_off: dt.date = dt.date(2026, 9, 30),
    errors: int = 0,
) -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(
            generate_rows(rows, seed=seed, currency=currency, cut_off=cut_off, errors=errors)
        )
    return path
