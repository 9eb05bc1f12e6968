"""Each error code of the loan tape format (API.md, "Loan tape format"), each on a small tape.

Every tape goes through HTTP: multipart upload, the import task's body, then GET /loan-tape/.
Lines count the header as line 1, so the first loan is line 2.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from listings.models import Loan
from listings.tape_generator import HEADER
from tests.listings.conftest import (
    assert_problem,
    import_via_api,
    loan_row,
    loan_rows,
    tape_csv,
    upload,
)

pytestmark = pytest.mark.django_db


def _failed(status: dict) -> list[tuple[int, str | None, str]]:
    """Assert a failed import that loaded nothing; return its errors as (line, column, code)."""
    assert status["status"] == "failed", status
    assert status["error_count"] == len(status["errors"]) >= 1
    assert Loan.objects.count() == 0
    for error in status["errors"]:
        assert set(error) == {"line", "column", "code", "message"}
        assert error["message"]
    return [(e["line"], e["column"], e["code"]) for e in status["errors"]]


def _import(seller_client, package, rows=None, *, content=None, **kwargs) -> dict:
    content = content if content is not None else tape_csv(rows, **kwargs)
    return import_via_api(seller_client, package.pk, content)


def test_status_shape_of_a_failed_import(seller_client, package):
    rows = loan_rows(3)
    rows[1]["product_type"] = "mortgage"

    status = _import(seller_client, package, rows)

    assert {"id", "status", "rows_total", "rows_processed", "error_count", "errors"} <= set(status)
    assert status["rows_total"] == 3
    assert status["rows_processed"] == 3
    assert status["errors"] == [
        {
            "line": 3,  # header = 1, first loan = 2, second loan = 3
            "column": "product_type",
            "code": "invalid_value",
            "message": status["errors"][0]["message"],
        }
    ]
    assert "credit_card" in status["errors"][0]["message"]


def test_status_shape_of_a_succeeded_import(seller_client, package):
    status = _import(seller_client, package, loan_rows(4))

    assert status["status"] == "succeeded"
    assert status["rows_total"] == status["rows_processed"] == 4
    assert status["error_count"] == 0
    assert status["errors"] == []
    assert Loan.objects.filter(package=package).count() == 4


@pytest.mark.parametrize(
    "missing", ["loan_id", "borrower_id", "currency", "region", "legal_status"]
)
def test_missing_required_column(seller_client, package, missing):
    header = [c for c in HEADER if c != missing]

    errors = _failed(_import(seller_client, package, loan_rows(2), header=header))

    assert errors == [(1, missing, "missing_column")]


def test_optional_columns_may_be_absent(seller_client, package):
    required = [
        "loan_id",
        "borrower_id",
        "product_type",
        "currency",
        "origination_date",
        "outstanding_principal",
        "accrued_interest",
        "days_past_due",
        "region",
        "legal_status",
    ]

    status = _import(seller_client, package, loan_rows(2), header=required)

    assert status["status"] == "succeeded", status["errors"]
    loan = Loan.objects.get(loan_id="L00001")
    assert loan.fees_and_penalties == 0
    assert loan.balance == loan.outstanding_principal + loan.accrued_interest
    assert loan.default_date is None and loan.borrower_age is None and loan.written_off is None


def test_unknown_columns_are_ignored(seller_client, package):
    header = [*HEADER, "branch_code"]
    rows = [dict(loan_row(1), branch_code="X-17")]

    status = _import(seller_client, package, rows, header=header)

    assert status["status"] == "succeeded", status["errors"]
    assert Loan.objects.filter(package=package).count() == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("product_type", "mortgage"),  # bad enum
        ("legal_status", "bankrupt"),  # bad enum
        ("classification", "good"),  # bad optional enum
        ("outstanding_principal", "-5.00"),  # negative amount
        ("accrued_interest", "1.234"),  # 3 decimal places
        ("fees_and_penalties", "1,000.00"),  # thousands separator
        ("last_payment_amount", "-1"),  # negative optional amount
        ("origination_date", "31/12/2019"),  # not YYYY-MM-DD
        ("origination_date", "2019-02-30"),  # not a calendar date
        ("default_date", "31/12/2019"),
        ("borrower_age", "150"),  # out of 18..100
        ("borrower_age", "17"),
        ("borrower_age", "forty"),
        ("days_past_due", "12.5"),  # not an integer
        ("days_past_due", "-1"),  # negative
        ("days_past_due", "abc"),
        ("interest_rate", "-2"),
        ("written_off", "maybe"),
        ("loan_id", ""),  # empty required cells
        ("borrower_id", ""),
        ("region", ""),
        ("outstanding_principal", ""),
        ("days_past_due", ""),
        ("origination_date", ""),
        ("currency", "eur"),  # not an ISO 4217 code
    ],
)
def test_invalid_value(seller_client, package, column, value):
    rows = loan_rows(3)
    rows[2][column] = value  # the third loan: line 4

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(4, column, "invalid_value")]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("origination_date", "2018/01/15"),
        ("origination_date", "20180115"),
        ("origination_date", "Jan 15 2018"),
        ("origination_date", "18-01-15"),
        ("origination_date", "epoch"),
        ("default_date", "2019-6-30"),
        ("outstanding_principal", "1e3"),
        ("outstanding_principal", "1_000"),
        ("outstanding_principal", "0x1F"),
        ("outstanding_principal", "+5"),
        ("interest_rate", "NaN"),
        ("days_past_due", "1_000"),
        ("days_past_due", "0x10"),
        ("days_past_due", "+5"),
        ("written_off", "yes"),
        ("written_off", "1"),
    ],
)
def test_values_outside_the_format_are_refused_even_when_postgres_could_read_them(
    seller_client, package, column, value
):
    """Dates are YYYY-MM-DD; decimals plain digits with `.`; written_off true/false (API.md).
    The refusal must not depend on whether another row happens to be invalid too."""
    rows = loan_rows(2)
    rows[0][column] = value

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(2, column, "invalid_value")]


def test_default_date_before_origination_is_invalid(seller_client, package):
    rows = [loan_row(1, origination_date="2019-01-10", default_date="2019-01-09")]

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(2, "default_date", "invalid_value")]


def test_every_error_of_every_row_is_reported(seller_client, package):
    rows = loan_rows(5)
    rows[0]["product_type"] = "mortgage"  # line 2, found by the typed checks
    rows[2]["origination_date"] = "31/12/2019"  # line 4, unreadable as a date
    rows[2]["borrower_age"] = "150"  # line 4, second error on the same row
    rows[4]["currency"] = "USD"  # line 6

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [
        (2, "product_type", "invalid_value"),
        (4, "origination_date", "invalid_value"),
        (4, "borrower_age", "invalid_value"),
        (6, "currency", "currency_mismatch"),
    ]


def test_duplicate_loan_id_reports_the_second_occurrence(seller_client, package):
    rows = loan_rows(4)
    rows[3]["loan_id"] = rows[1]["loan_id"]  # line 5 repeats line 3

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(5, "loan_id", "duplicate_loan_id")]


def test_every_repeat_of_a_loan_id_is_reported(seller_client, package):
    rows = loan_rows(4)
    for row in rows:
        row["loan_id"] = "SAME"

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(line, "loan_id", "duplicate_loan_id") for line in (3, 4, 5)]


def test_currency_mismatch(seller_client, package):
    rows = loan_rows(3)
    rows[1]["currency"] = "USD"

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(3, "currency", "currency_mismatch")]


@pytest.mark.parametrize("column", ["origination_date", "default_date", "last_payment_date"])
def test_date_after_cut_off(seller_client, package, column):
    rows = loan_rows(2)
    rows[1]["origination_date"] = "2026-01-01"
    rows[1]["default_date"] = "2026-06-01"
    rows[1]["last_payment_date"] = "2026-05-01"
    rows[1][column] = "2026-10-01"  # the package's cut-off is 2026-09-30
    if column == "origination_date":
        rows[1]["default_date"] = ""

    errors = _failed(_import(seller_client, package, rows))

    assert errors == [(3, column, "date_after_cut_off")]


def test_dates_on_the_cut_off_date_are_accepted(seller_client, package):
    rows = [
        loan_row(
            1,
            origination_date="2026-09-30",
            default_date="2026-09-30",
            last_payment_date="2026-09-30",
        )
    ]

    status = _import(seller_client, package, rows)

    assert status["status"] == "succeeded", status["errors"]


@pytest.mark.parametrize("pii", ["phone", "borrower_name", "national_id", "Email"])
def test_pii_column_fails_the_whole_tape(seller_client, package, pii):
    header = [*HEADER, pii]
    rows = [dict(row, **{pii: "x"}) for row in loan_rows(3)]

    status = _import(seller_client, package, rows, header=header)
    errors = _failed(status)

    assert errors == [(1, pii.lower(), "pii_not_allowed")]


def test_pii_column_fails_even_when_empty(seller_client, package):
    status = _import(seller_client, package, loan_rows(2), header=[*HEADER, "address"])

    assert _failed(status) == [(1, "address", "pii_not_allowed")]


def test_invalid_encoding_reports_its_line(seller_client, package):
    lines = tape_csv(loan_rows(5)).split(b"\n")
    lines[3] = lines[3].replace(b"Seoul", b"Seo\xff\xfeul")  # the third loan: line 4
    content = b"\n".join(lines)

    errors = _failed(_import(seller_client, package, content=content))

    assert errors == [(4, None, "invalid_encoding")]


def test_latin1_tape_is_invalid_encoding(seller_client, package):
    content = tape_csv([loan_row(1), loan_row(2, region="Gyeongs\u00e1ng")])
    content = content.decode("utf-8").encode("latin-1")

    errors = _failed(_import(seller_client, package, content=content))

    assert errors == [(3, None, "invalid_encoding")]


def test_empty_file_is_empty_tape(seller_client, package):
    errors = _failed(_import(seller_client, package, content=b""))

    assert [code for _, _, code in errors] == ["empty_tape"]


def test_header_only_is_empty_tape(seller_client, package):
    status = _import(seller_client, package, [])
    errors = _failed(status)

    assert [code for _, _, code in errors] == ["empty_tape"]
    assert status["rows_total"] == 0


def test_row_with_too_few_cells_is_reported_with_its_line(seller_client, package):
    content = tape_csv(loan_rows(3)) + b"L9,B9,credit_card\n"

    errors = _failed(_import(seller_client, package, content=content))

    assert errors == [(5, None, "invalid_value")]


def test_errors_are_capped_at_1000_but_all_counted(seller_client, package):
    rows = loan_rows(1100)
    for row in rows:
        row["product_type"] = "mortgage"

    status = _import(seller_client, package, rows)

    assert status["status"] == "failed"
    assert status["error_count"] == 1100
    assert len(status["errors"]) == 1000
    assert [e["line"] for e in status["errors"]] == list(range(2, 1002))
    assert Loan.objects.count() == 0


# --------------------------------------------------------------------------- at upload


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("scan.png", PNG),
        ("tape.pdf", PDF),
        ("tape.pdf", b"loan_id,borrower_id\nL1,B1\n"),  # a CSV body under a .pdf name
        ("tape.xlsx", b"loan_id,borrower_id\nL1,B1\n"),  # not a workbook
        ("tape.csv", PNG),  # PNG bytes under a .csv name
        ("tape.csv", PDF),
        ("tape", PNG),
    ],
)
def test_unsupported_file_type_is_refused_at_upload(seller_client, package, name, content):
    response = upload(seller_client, package.pk, content, name, "application/octet-stream")

    assert_problem(response, 400, "unsupported_file_type")
    package.refresh_from_db()
    assert package.latest_tape_id is None
    assert seller_client.get(f"/api/v1/packages/{package.pk}/loan-tape/").status_code == 404


def test_zip_that_is_not_a_workbook_fails_the_import(seller_client, package):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")

    errors = _failed(import_via_api(seller_client, package.pk, buffer.getvalue(), "tape.xlsx"))

    assert [code for _, _, code in errors] == ["unsupported_file_type"]


def test_upload_without_a_file_is_a_validation_error(seller_client, package):
    response = seller_client.post(
        f"/api/v1/packages/{package.pk}/loan-tape/", {}, format="multipart"
    )

    body = assert_problem(response, 400, "validation_error")
    assert "file" in body["errors"]


# --------------------------------------------------------------------------- size limits


def test_tape_over_the_size_limit_is_413(seller_client, package, settings):
    settings.LOAN_TAPE_MAX_BYTES = 100
    content = tape_csv(loan_rows(3))
    assert len(content) > 100

    response = upload(seller_client, package.pk, content)

    assert_problem(response, 413, "payload_too_large")
    assert package.tape_imports.count() == 0


def test_tape_under_the_size_limit_is_accepted(seller_client, package, settings):
    content = tape_csv(loan_rows(1))
    settings.LOAN_TAPE_MAX_BYTES = len(content) + 1024  # room for the multipart envelope

    assert upload(seller_client, package.pk, content).status_code == 202


def test_request_over_the_request_limit_is_413_before_it_is_read(seller_client, package, settings):
    settings.MAX_REQUEST_BYTES = 200

    response = upload(seller_client, package.pk, tape_csv(loan_rows(3)))

    assert_problem(response, 413, "payload_too_large")
    assert package.tape_imports.count() == 0
