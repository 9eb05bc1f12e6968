"""The same tape as CSV and as XLSX: the same loans, summary and errors, one set of rules.

The XLSX holds cells typed as Excel types them (dates, numbers, booleans); the CSV holds the
text the format asks for. A clean XLSX must take the fast path like a CSV, and a workbook
whose sheet claims an implausible size is refused before it is read.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from listings.models import Loan
from listings.tape import sql_load
from listings.tape_generator import HEADER, write_tape
from tests.listings.conftest import CUT_OFF, import_tape, loan_row, loan_rows
from tests.listings.test_tape_fast import DISCLOSURE_FIELDS as SUMMARY_FIELDS
from tests.listings.test_tape_fast import LOAN_FIELDS

pytestmark = pytest.mark.django_db

DATES = {"origination_date", "default_date", "last_payment_date"}
NUMBERS = {
    "outstanding_principal",
    "accrued_interest",
    "fees_and_penalties",
    "days_past_due",
    "last_payment_amount",
    "interest_rate",
    "borrower_age",
}


def _typed(column: str, text: str) -> object:
    """The cell as Excel would type what a user enters: dates, numbers and booleans."""
    if text == "":
        return None
    if column in DATES and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.date.fromisoformat(text)
    if column in NUMBERS and re.fullmatch(r"\d+(\.\d+)?", text):
        return int(text) if "." not in text else float(text)
    if column == "written_off" and text in ("true", "false"):
        return text == "true"
    return text


def _text(value: object) -> str:
    """What the format reads from a typed cell (Excel's number as its shortest decimal)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _tapes(rows: list[dict[str, str]]) -> tuple[bytes, bytes]:
    """The same rows as a CSV (the text of each typed cell) and as an XLSX (typed cells)."""
    typed = [[_typed(c, row.get(c, "")) for c in HEADER] for row in rows]
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for cells in typed:
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    lines = [",".join(HEADER)] + [",".join(_text(v) for v in cells) for cells in typed]
    return ("\n".join(lines) + "\n").encode(), buffer.getvalue()


def _loans(package) -> list[tuple]:
    return list(Loan.objects.filter(package=package).order_by("loan_id").values_list(*LOAN_FIELDS))


def _import_both(make_package, rows):
    csv_content, xlsx_content = _tapes(rows)
    csv_package, xlsx_package = make_package(title="csv"), make_package(title="xlsx")
    csv_tape = import_tape(csv_package, csv_content, "tape.csv")
    xlsx_tape = import_tape(xlsx_package, xlsx_content, "tape.xlsx")
    csv_package.refresh_from_db()
    xlsx_package.refresh_from_db()
    return (csv_package, csv_tape), (xlsx_package, xlsx_tape)


def _generated_rows(tmp_path: Path, count: int) -> list[dict[str, str]]:
    path = write_tape(tmp_path / "t.csv", count, seed=7, cut_off=CUT_OFF)
    header, *lines = path.read_text().splitlines()
    names = header.split(",")
    return [dict(zip(names, line.split(","), strict=True)) for line in lines]


def test_a_clean_tape_as_csv_and_as_xlsx_gives_the_same_loans_and_summary(
    make_package, tmp_path, monkeypatch
):
    def sql_path(*args, **kwargs):
        raise AssertionError("the SQL path ran for a clean tape")

    monkeypatch.setattr(sql_load, "load", sql_path)  # both formats take the fast path
    rows = _generated_rows(tmp_path, 400)

    (csv_package, csv_tape), (xlsx_package, xlsx_tape) = _import_both(make_package, rows)

    assert csv_tape.status == xlsx_tape.status == "succeeded", (csv_tape.errors, xlsx_tape.errors)
    assert csv_tape.rows_total == xlsx_tape.rows_total == 400
    assert len(_loans(csv_package)) == 400
    assert _loans(xlsx_package) == _loans(csv_package)
    for field in SUMMARY_FIELDS:
        assert getattr(xlsx_package, field) == getattr(csv_package, field), field


def test_a_tape_with_errors_as_csv_and_as_xlsx_gives_the_same_errors(make_package):
    rows = [
        *loan_rows(3),
        loan_row(4, product_type="mortgage", borrower_age="150"),
        loan_row(5, origination_date="31/12/2019", region=""),
        loan_row(6, default_date="2017-01-01", last_payment_date="2027-01-01"),
        loan_row(2),  # a duplicate loan id
        loan_row(8, currency="USD", outstanding_principal="1.234", written_off="maybe"),
        loan_row(9, days_past_due="12.5", interest_rate="NaN"),
    ]

    (_, csv_tape), (_, xlsx_tape) = _import_both(make_package, rows)

    assert csv_tape.status == xlsx_tape.status == "failed"
    assert xlsx_tape.errors == csv_tape.errors
    assert xlsx_tape.error_count == csv_tape.error_count == 12
    assert {e["code"] for e in csv_tape.errors} == {
        "invalid_value",
        "date_after_cut_off",
        "duplicate_loan_id",
        "currency_mismatch",
    }
    assert Loan.objects.count() == 0


def test_a_cleaned_up_cell_reads_the_same_in_both_formats(make_package):
    """Spaces around a cell, TRUE: valid once trimmed, loaded by the SQL path in both."""
    rows = [loan_row(1, region="  Seoul ", written_off="TRUE"), loan_row(2)]

    (csv_package, csv_tape), (xlsx_package, xlsx_tape) = _import_both(make_package, rows)

    assert csv_tape.status == xlsx_tape.status == "succeeded", (csv_tape.errors, xlsx_tape.errors)
    assert _loans(xlsx_package) == _loans(csv_package)
    assert Loan.objects.get(package=xlsx_package, loan_id="L00001").region == "Seoul"
    assert xlsx_package.total_balance == csv_package.total_balance == Decimal("2221.00")


def _with_dimension(content: bytes, ref: str) -> bytes:
    """The workbook with its first sheet's declared dimension replaced by ``ref``."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(
                    rb'<dimension ref="[^"]+"', f'<dimension ref="{ref}"'.encode(), data
                )
                assert count == 1
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize("ref", ["A1:XFD1048576", "A1:R1048576", "A1:AMK3"])
def test_a_sheet_claiming_an_implausible_size_is_an_invalid_file(package, ref):
    _, content = _tapes(loan_rows(2))
    content = _with_dimension(content, ref)
    assert len(content) < 10_000

    tape = import_tape(package, content, "tape.xlsx")

    assert tape.status == "failed"
    assert [(e["line"], e["column"], e["code"]) for e in tape.errors] == [(0, None, "invalid_file")]
    assert tape.error_count == 1
    assert Loan.objects.count() == 0


def test_a_sheet_with_its_true_dimension_imports(package):
    _, content = _tapes(loan_rows(2))

    tape = import_tape(package, _with_dimension(content, "A1:R3"), "tape.xlsx")

    assert tape.status == "succeeded", tape.errors
    assert Loan.objects.filter(package=package).count() == 2


def _sheet(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_empty_rows_are_skipped_and_a_row_wider_than_the_header_is_refused_as_in_csv(
    make_package,
):
    csv_content, _ = _tapes(loan_rows(3))
    header, first, second, third = csv_content.decode().splitlines()
    wide = third + ",,surplus"  # a cell past the header's width, after an empty one
    csv_tape = import_tape(
        make_package(title="csv"), "\n".join([header, first, second, wide, ""]).encode()
    )
    cells = [
        [_typed(c, v) for c, v in zip(HEADER, line.split(","), strict=True)]
        for line in (first, second, third)
    ]
    xlsx_tape = import_tape(
        make_package(title="xlsx"),
        _sheet([[], HEADER, cells[0], [], [None, None], cells[1], [*cells[2], None, "surplus"]]),
        "tape.xlsx",
    )

    assert csv_tape.status == xlsx_tape.status == "failed"
    assert [(e["line"], e["column"], e["code"]) for e in csv_tape.errors] == [
        (4, None, "invalid_value")
    ]
    assert xlsx_tape.errors == csv_tape.errors
