"""The in-process fast path of the import (listings.tape.fast_load) against the SQL path.

The fast path loads a clean tape and misses on anything else; the SQL path then decides. So:
a clean tape must take it, both paths must load exactly the same rows and disclosure, and the
fast path must miss on every cell the format refuses (never more lenient).
"""

from __future__ import annotations

import csv
import hmac
import io
from hashlib import sha256
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from listings.models import Loan
from listings.tape import fast_load, hashing, sql_load
from listings.tape.context import TapeJob
from listings.tape.errors import Miss
from listings.tape.reading import CsvSource, check_header
from listings.tape_generator import write_tape
from tests.listings.conftest import CUT_OFF, HEADER, import_tape, loan_row, loan_rows, tape_csv

pytestmark = pytest.mark.django_db

# Every stored column of a loan but the ones that differ by design between two loads (its id,
# package and import).
LOAN_FIELDS = [
    f.attname
    for f in Loan._meta.concrete_fields
    if f.attname not in ("id", "package_id", "tape_import_id")
]
DISCLOSURE_FIELDS = [
    "loan_count",
    "borrower_count",
    "total_principal",
    "total_interest",
    "total_fees",
    "total_balance",
    "weighted_avg_days_past_due",
    "weighted_avg_borrower_age",
    "max_borrower_balance",
    "avg_borrower_balance",
    "litigation_mix",
    "product_mix",
    "stratification",
]


class _Progress:
    def __init__(self) -> None:
        self.rows = 0

    def add(self, rows: int) -> None:
        self.rows += rows


def _loans(package) -> list[tuple]:
    return list(Loan.objects.filter(package=package).order_by("loan_id").values_list(*LOAN_FIELDS))


def _force_sql_path(monkeypatch) -> None:
    def miss(*args, **kwargs):
        raise Miss("forced by the test")

    monkeypatch.setattr(fast_load, "load", miss)


def _fast_load(package, content: bytes, tmp_path: Path) -> int:
    """Run the fast path alone on ``content`` in a savepoint that is always rolled back."""
    path = tmp_path / "tape.csv"
    path.write_bytes(content)
    source = CsvSource(path)

    class Tape:
        pk = 999_999

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
            job = TapeJob(
                tape=Tape,
                package=package,
                source=source,
                positions=check_header(source.header),
                progress=_Progress(),
                hash_key=b"test-key",
            )
            rows = fast_load.load(cursor, job)
            transaction.set_rollback(True)
            return rows
    finally:
        assert not Loan.objects.filter(tape_import_id=Tape.pk).exists()


def _sql_path_must_not_run(*args, **kwargs):
    raise AssertionError("the SQL path ran for a clean tape")


def test_a_clean_generated_tape_takes_the_fast_path(package, tmp_path, monkeypatch):
    monkeypatch.setattr(sql_load, "load", _sql_path_must_not_run)
    path = write_tape(tmp_path / "t.csv", 3000, seed=11, cut_off=CUT_OFF)

    tape = import_tape(package, path.read_bytes())

    assert tape.status == "succeeded", tape.errors
    assert tape.rows_total == tape.rows_processed == 3000
    assert Loan.objects.filter(package=package).count() == 3000


@pytest.mark.parametrize("variant", ["plain", "bom_crlf", "optional_columns_absent", "quoted"])
def test_both_paths_load_the_same_loans_and_disclosure(make_package, variant, monkeypatch):
    # Commas and line breaks in cells make the fast path quote its CSV; otherwise it is not.
    structural = "Jeju, South" if variant in ("quoted", "bom_crlf") else None
    rows = [
        loan_row(1),
        loan_row(
            2,
            default_date="",
            last_payment_date="",
            last_payment_amount="",
            interest_rate="",
            borrower_age="",
            classification="",
            written_off="",
            fees_and_penalties="",
        ),
        loan_row(
            3,
            borrower_id="고객-0002",
            region=structural or "Jeju South",
            written_off="true",
            outstanding_principal="99999999999999.00",
            accrued_interest="0",
            fees_and_penalties="0.5",
            interest_rate="99999.9999",
            borrower_age="100",
        ),
        loan_row(
            4,
            borrower_id="고객-0002",
            origination_date=CUT_OFF.isoformat(),
            default_date=CUT_OFF.isoformat(),
            last_payment_date=CUT_OFF.isoformat(),
            days_past_due="0",
            borrower_age="18",
            legal_status="settled",
            product_type="personal_business_loan",
            classification="doubtful",
        ),
        loan_row(
            5,
            region="Gangwon\nNorth" if structural else "Gangwon",
            loan_id="L-5 with spaces inside",
        ),
        *loan_rows(40, start=6),
    ]
    header = list(HEADER)
    kwargs = {}
    if variant == "bom_crlf":
        kwargs = {"bom": True, "newline": "\r\n"}
    elif variant == "optional_columns_absent":
        header = [c for c in HEADER if c not in ("fees_and_penalties", "borrower_age")]
    content = tape_csv(rows, header=header, **kwargs)
    if variant == "quoted":  # every cell quoted, as some exporters write them
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows([[row.get(c, "") for c in header] for row in rows])
        content = out.getvalue().encode()

    fast_package = make_package(title="fast")
    with monkeypatch.context() as patch:  # empty cells, commas, line breaks: all fast
        patch.setattr(sql_load, "load", _sql_path_must_not_run)
        fast = import_tape(fast_package, content)
    _force_sql_path(monkeypatch)
    sql_package = make_package(title="sql")
    sql = import_tape(sql_package, content)

    assert fast.status == sql.status == "succeeded", (fast.errors, sql.errors)
    assert _loans(fast_package) == _loans(sql_package)
    assert len(_loans(fast_package)) == len(rows)
    fast_package.refresh_from_db()
    sql_package.refresh_from_db()
    for field in DISCLOSURE_FIELDS:
        assert getattr(fast_package, field) == getattr(sql_package, field), field


def test_both_paths_agree_on_a_generated_tape(make_package, tmp_path, monkeypatch):
    content = write_tape(tmp_path / "t.csv", 2000, seed=5, cut_off=CUT_OFF).read_bytes()
    fast_package = make_package(title="fast")
    import_tape(fast_package, content)
    _force_sql_path(monkeypatch)
    sql_package = make_package(title="sql")
    import_tape(sql_package, content)

    assert _loans(fast_package) == _loans(sql_package)
    fast_package.refresh_from_db()
    sql_package.refresh_from_db()
    assert fast_package.stratification == sql_package.stratification
    assert fast_package.total_balance == sql_package.total_balance


def test_the_fast_path_hashes_borrower_ids_as_hmac_does(package, tmp_path):
    ids = ["B-1", "고객-0002", "x" * 200]
    content = tape_csv([loan_row(n, borrower_id=b) for n, b in enumerate(ids, 1)])
    digest = hashing.hasher(b"k" * 100)  # a key over 64 bytes is hashed first (RFC 2104)

    assert digest(ids) == [hmac.new(b"k" * 100, b.encode(), sha256).hexdigest() for b in ids]
    assert _fast_load(package, content, tmp_path) == 3


# Cells the format refuses (and a few it accepts only once trimmed or lower-cased): the fast
# path must miss on each, leaving the decision to the SQL path.
MISSES = [
    ("product_type", "mortgage"),
    ("legal_status", "bankrupt"),
    ("classification", "good"),
    ("outstanding_principal", "-5.00"),
    ("accrued_interest", "1.234"),
    ("fees_and_penalties", "1,000.00"),
    ("last_payment_amount", "-1"),
    ("outstanding_principal", "10000000000000000"),  # 1e16
    ("outstanding_principal", "1e3"),
    ("outstanding_principal", "1_000"),
    ("outstanding_principal", "0x1F"),
    ("outstanding_principal", "+5"),
    ("outstanding_principal", ".5"),
    ("outstanding_principal", "5."),
    ("outstanding_principal", " 1000.00"),
    ("interest_rate", "NaN"),
    ("interest_rate", "100000"),
    ("interest_rate", "1.23456"),
    ("origination_date", "31/12/2019"),
    ("origination_date", "2019-02-30"),  # refused by Arrow's conversion
    ("origination_date", "2019-02-29"),
    ("origination_date", "0000-01-01"),  # year 0: Arrow takes it, PostgreSQL does not
    ("origination_date", "0999-12-31"),  # valid, but outside the fast rule
    ("origination_date", "2019-13-01"),
    ("origination_date", "20180115"),
    ("origination_date", "2018-1-015"),
    ("origination_date", "Jan 15 2018"),
    ("origination_date", "2026-10-01"),  # after the cut-off
    ("default_date", "2017-01-01"),  # before origination
    ("last_payment_date", "2027-01-01"),
    ("borrower_age", "150"),
    ("borrower_age", "17"),
    ("borrower_age", "forty"),
    ("borrower_age", " 40 "),
    ("days_past_due", "12.5"),
    ("days_past_due", "-1"),
    ("days_past_due", "1_000"),
    ("days_past_due", "0x10"),
    ("days_past_due", "9999999999"),
    ("written_off", "maybe"),
    ("written_off", "yes"),
    ("written_off", "TRUE"),
    ("written_off", "1"),
    ("loan_id", ""),
    ("loan_id", "L" * 101),
    ("loan_id", 'L"1'),
    ("borrower_id", ""),
    ("borrower_id", "B" * 201),
    ("region", ""),
    ("region", "  Seoul "),
    ("outstanding_principal", ""),
    ("days_past_due", ""),
    ("origination_date", ""),
    ("currency", "eur"),
    ("currency", "USD"),
    ("product_type", ""),
]


@pytest.mark.parametrize(("column", "value"), MISSES)
def test_the_fast_path_misses_every_cell_it_does_not_accept_outright(
    package, tmp_path, column, value
):
    rows = loan_rows(3)
    rows[2][column] = value
    content = tape_csv(rows)
    assert _fast_load(package, tape_csv(loan_rows(3)), tmp_path) == 3  # the same tape, clean

    with pytest.raises((Miss, psycopg.errors.DataError)):
        _fast_load(package, content, tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        tape_csv(loan_rows(2)) + tape_csv([loan_row(1)]).split(b"\n", 1)[1],  # duplicate id
        tape_csv(loan_rows(2)) + b"\n" + tape_csv([loan_row(3)]).split(b"\n", 1)[1],  # blank
        tape_csv(loan_rows(2)) + b"L9,B9\n",  # too few cells
        tape_csv(loan_rows(2)).replace(b"\n", b",extra\n", 2),  # a row with too many cells
        tape_csv(loan_rows(2)).replace(b"Seoul", b"Se\xffoul", 1),  # not UTF-8
        tape_csv(loan_rows(2)).replace(b"Seoul", b"Se\x00oul", 1),  # NUL byte
        tape_csv(loan_rows(3)).replace(b"false\nL00002", b"false\rL00002"),  # a bare CR
        tape_csv(loan_rows(2)) + b"\\.\n" + tape_csv([loan_row(3)]).split(b"\n", 1)[1],
        tape_csv([]),  # header only: 0 rows (the caller treats 0 as a miss)
    ],
    ids=["duplicate", "blank", "short", "long", "utf8", "nul", "cr", "end_of_data", "empty"],
)
def test_the_fast_path_misses_malformed_tapes(package, tmp_path, content):
    try:
        rows = _fast_load(package, content, tmp_path)
    except (Miss, psycopg.errors.DataError, psycopg.errors.IntegrityError):
        return
    assert rows == 0  # only the empty tape may come back, with nothing loaded


def test_a_balance_too_large_for_its_column_is_an_invalid_value(package):
    """Each amount is below 10^16, but their sum, the stored balance, is not."""
    rows = loan_rows(3)
    rows[1].update(
        outstanding_principal="9999999999999999.00",
        accrued_interest="0.99",
        fees_and_penalties="0.01",
    )

    tape = import_tape(package, tape_csv(rows))

    assert tape.status == "failed"
    assert [(e["line"], e["column"], e["code"]) for e in tape.errors] == [
        (3, "outstanding_principal", "invalid_value")
    ]
    assert Loan.objects.filter(package=package).count() == 0


def test_a_tape_whose_total_balance_overflows_is_refused(package):
    rows = loan_rows(3)
    for row in rows[:2]:
        row.update(outstanding_principal="9000000000000000.00", accrued_interest="0")

    tape = import_tape(package, tape_csv(rows))

    assert tape.status == "failed"
    assert [(e["line"], e["code"]) for e in tape.errors] == [(0, "invalid_value")]
    assert Loan.objects.filter(package=package).count() == 0
