"""Loan tape import: all or nothing, replacement of the previous tape, file flavours (XLSX, BOM,
CRLF, quoting), borrower-id hashing, and idempotency of the import task."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from openpyxl import Workbook

from listings import services
from listings.models import Loan, LoanTapeImport, Package, PackageStatus
from listings.tape.hashing import borrower_hash
from listings.tape_generator import HEADER
from listings.tasks import loan_tape_import
from marketplace.outbox import relay as outbox_relay
from tests.listings.conftest import (
    audit_actions,
    audit_events,
    import_tape,
    import_via_api,
    loan_row,
    loan_rows,
    tape_csv,
    upload,
)

pytestmark = pytest.mark.django_db


def _summary(client, package_id: int) -> tuple[dict, dict]:
    detail = client.get(f"/api/v1/packages/{package_id}/")
    strat = client.get(f"/api/v1/packages/{package_id}/stratification/")
    assert detail.status_code == 200 and strat.status_code == 200
    body = detail.json()
    # The latest tape and the update time move with every upload; the disclosure must not.
    for key in ("latest_tape", "updated_at"):
        body.pop(key)
    return body, strat.json()


# --------------------------------------------------------------------------- all or nothing


def test_a_bad_last_row_imports_nothing(seller_client, package):
    rows = loan_rows(50)
    rows[-1]["outstanding_principal"] = "-1.00"

    status = import_via_api(seller_client, package.pk, tape_csv(rows))

    assert status["status"] == "failed"
    assert [(e["line"], e["column"]) for e in status["errors"]] == [(51, "outstanding_principal")]
    assert status["rows_total"] == 50
    assert Loan.objects.count() == 0
    package.refresh_from_db()
    assert package.current_tape_id is None
    assert package.loan_count == 0
    assert package.stratification == {}


def test_failed_reupload_keeps_previous_tape_and_disclosure(seller_client, package):
    first = import_via_api(seller_client, package.pk, tape_csv(loan_rows(6)))
    assert first["status"] == "succeeded"
    loans_before = list(Loan.objects.order_by("id").values_list("id", "loan_id", "balance"))
    summary_before, strat_before = _summary(seller_client, package.pk)
    assert summary_before["loan_count"] == 6

    rows = loan_rows(10, start=100)
    rows[-1]["currency"] = "USD"
    second = import_via_api(seller_client, package.pk, tape_csv(rows))

    assert second["status"] == "failed"
    assert second["id"] != first["id"]
    assert list(Loan.objects.order_by("id").values_list("id", "loan_id", "balance")) == (
        loans_before
    )
    assert _summary(seller_client, package.pk) == (summary_before, strat_before)
    package.refresh_from_db()
    assert package.current_tape_id == first["id"]
    assert package.latest_tape_id == second["id"]
    # The latest import failed, so the package cannot be submitted on the strength of the first.
    response = seller_client.post(f"/api/v1/packages/{package.pk}/submit/")
    assert response.status_code == 409


def test_successful_reupload_replaces_loans_and_summary(seller_client, package):
    first = import_via_api(seller_client, package.pk, tape_csv(loan_rows(6)))
    summary_before, _ = _summary(seller_client, package.pk)

    rows = [loan_row(n, product_type="consumer_loan", region="Busan") for n in range(50, 53)]
    second = import_via_api(seller_client, package.pk, tape_csv(rows))

    assert second["status"] == "succeeded"
    loans = Loan.objects.filter(package=package)
    assert sorted(loans.values_list("loan_id", flat=True)) == ["L00050", "L00051", "L00052"]
    assert set(loans.values_list("tape_import_id", flat=True)) == {second["id"]}
    assert not Loan.objects.filter(tape_import_id=first["id"]).exists()
    summary, strat = _summary(seller_client, package.pk)
    assert summary_before["loan_count"] == 6
    assert summary["loan_count"] == 3
    assert summary["product_mix"] == {"consumer_loan": 3}
    assert [row["bucket"] for row in strat["region"]] == ["Busan"]
    package.refresh_from_db()
    assert package.current_tape_id == package.latest_tape_id == second["id"]


def test_superseded_upload_fails_and_the_newer_one_wins(seller_client, package):
    older = upload(seller_client, package.pk, tape_csv(loan_rows(2))).json()["id"]
    newer = upload(seller_client, package.pk, tape_csv(loan_rows(3, start=10))).json()["id"]

    assert loan_tape_import.run(older) == "failed"
    assert loan_tape_import.run(newer) == "succeeded"

    assert LoanTapeImport.objects.get(pk=older).errors[0]["code"] == "invalid_state"
    assert sorted(Loan.objects.values_list("loan_id", flat=True)) == ["L00010", "L00011", "L00012"]


def test_import_into_a_withdrawn_package_fails(seller_client, seller_user, package):
    import_id = upload(seller_client, package.pk, tape_csv(loan_rows(2))).json()["id"]
    services.package_withdraw(actor=seller_user, package_id=package.pk)

    assert loan_tape_import.run(import_id) == "failed"

    assert Loan.objects.count() == 0
    assert LoanTapeImport.objects.get(pk=import_id).errors[0]["code"] == "invalid_state"


def test_upload_enqueues_the_import_after_commit(
    seller_client, package, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []

    class Publisher:  # the task outbox's publisher: what leaves for the broker after commit
        def send_task(self, name, args=None, **kwargs):
            if name == loan_tape_import.name:
                queued.append(*args)

    monkeypatch.setattr(outbox_relay, "current_app", Publisher())

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(seller_client, package.pk, tape_csv(loan_rows(2)))

    assert response.status_code == 202
    assert len(callbacks) == 1
    assert queued == [response.json()["id"]]
    assert LoanTapeImport.objects.get(pk=queued[0]).status == "pending"


def test_audit_events_of_uploads_and_imports(seller_client, package):
    import_via_api(seller_client, package.pk, tape_csv(loan_rows(3)))
    rows = loan_rows(2)
    rows[0]["product_type"] = "mortgage"
    failed = import_via_api(seller_client, package.pk, tape_csv(rows))

    assert audit_actions(package.pk) == [
        "package.created",
        "loan_tape.uploaded",
        "loan_tape.imported",
        "loan_tape.uploaded",
        "loan_tape.failed",
    ]
    (imported,) = audit_events(package.pk, "loan_tape.imported")
    assert imported.data["rows"] == 3
    (fail,) = audit_events(package.pk, "loan_tape.failed")
    assert fail.data["import_id"] == failed["id"]
    assert fail.data["error_count"] == 1
    assert fail.data["codes"] == ["invalid_value"]


# --------------------------------------------------------------------------- file flavours


def _xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Loans"
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("Notes").append(["this sheet is ignored", 1, 2])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_tape_with_date_and_number_cells(seller_client, package):
    content = _xlsx(
        [
            HEADER,
            [
                "X1", "B1", "credit_card", "EUR", dt.date(2018, 1, 15), dt.date(2019, 6, 30),
                1000.5, 100, 10.25, 400, dt.datetime(2019, 5, 1), 50, 12.5, 45,  # noqa: DTZ001  (Excel cells have no time zone)
                "Seoul", "not_sued", "loss", False,
            ],
            [
                "X2", "B2", "consumer_loan", "EUR", dt.date(2020, 3, 1), None,
                2500, 0.75, None, 1200, None, None, None, None,
                "Busan", "enforcement", "doubtful", True,
            ],
        ]
    )  # fmt: skip

    status = import_via_api(seller_client, package.pk, content, "tape.xlsx")

    assert status["status"] == "succeeded", status["errors"]
    first = Loan.objects.get(loan_id="X1")
    assert first.origination_date == dt.date(2018, 1, 15)
    assert first.last_payment_date == dt.date(2019, 5, 1)
    assert first.outstanding_principal == Decimal("1000.50")
    assert first.balance == Decimal("1110.75")
    assert first.days_past_due == 400 and first.borrower_age == 45
    assert first.written_off is False
    second = Loan.objects.get(loan_id="X2")
    assert second.fees_and_penalties == 0 and second.default_date is None
    assert second.written_off is True


def test_xlsx_row_with_empty_trailing_optional_cells(seller_client, package):
    """A row whose last cells (classification, written_off) are empty is still a full row."""
    content = _xlsx(
        [
            HEADER,
            [
                "X1", "B1", "credit_card", "EUR", dt.date(2018, 1, 15), None, 1000, 100, None,
                400, None, None, None, None, "Seoul", "not_sued", None, None,
            ],
            [
                "X2", "B2", "credit_card", "EUR", dt.date(2018, 1, 15), None, 1000, 100, None,
                400, None, None, None, None, "Seoul", "not_sued", "loss", True,
            ],
        ]
    )  # fmt: skip

    status = import_via_api(seller_client, package.pk, content, "tape.xlsx")

    assert status["status"] == "succeeded", status["errors"]
    assert Loan.objects.get(loan_id="X1").written_off is None


def test_xlsx_errors_report_sheet_lines(seller_client, package):
    row = [
        "X1", "B1", "credit_card", "EUR", dt.date(2018, 1, 15), None, 1000, 100, 0,
        400, None, None, None, 150, "Seoul", "not_sued", "loss", False,
    ]  # fmt: skip
    content = _xlsx([HEADER, row, ["X2", *row[1:]]])

    status = import_via_api(seller_client, package.pk, content, "tape.xlsx")

    assert status["status"] == "failed"
    assert [(e["line"], e["column"], e["code"]) for e in status["errors"]] == [
        (2, "borrower_age", "invalid_value"),
        (3, "borrower_age", "invalid_value"),
    ]


def test_csv_with_utf8_bom_imports(seller_client, package):
    status = import_via_api(seller_client, package.pk, tape_csv(loan_rows(3), bom=True))

    assert status["status"] == "succeeded", status["errors"]
    assert Loan.objects.filter(package=package).count() == 3


def test_csv_with_crlf_line_endings_imports(seller_client, package):
    content = tape_csv(loan_rows(3), newline="\r\n")
    assert content.count(b"\r\n") == 4

    status = import_via_api(seller_client, package.pk, content)

    assert status["status"] == "succeeded", status["errors"]
    assert sorted(Loan.objects.values_list("region", flat=True)) == ["Seoul"] * 3


def test_csv_with_bom_and_crlf_reports_lines(seller_client, package):
    rows = loan_rows(3)
    rows[2]["legal_status"] = "bankrupt"

    status = import_via_api(seller_client, package.pk, tape_csv(rows, newline="\r\n", bom=True))

    assert [(e["line"], e["column"]) for e in status["errors"]] == [(4, "legal_status")]


def test_quoted_fields_with_commas_and_quotes_import(seller_client, package):
    rows = [
        loan_row(1, region="Seoul, Gangnam-gu"),
        loan_row(2, region='North "Chungcheong"', loan_id="L-2,b"),
    ]
    content = tape_csv(rows)
    assert b'"Seoul, Gangnam-gu"' in content and b'"North ""Chungcheong"""' in content

    status = import_via_api(seller_client, package.pk, content)

    assert status["status"] == "succeeded", status["errors"]
    assert Loan.objects.get(loan_id="L00001").region == "Seoul, Gangnam-gu"
    assert Loan.objects.get(loan_id="L-2,b").region == 'North "Chungcheong"'


def test_header_names_are_case_and_space_insensitive_and_order_free(seller_client, package):
    header = list(reversed(HEADER))
    content = tape_csv(loan_rows(2), header=header)
    first_line, rest = content.split(b"\n", 1)
    content = b",".join(b" " + name.upper() for name in first_line.split(b",")) + b"\n" + rest

    status = import_via_api(seller_client, package.pk, content)

    assert status["status"] == "succeeded", status["errors"]
    assert Loan.objects.get(loan_id="L00002").borrower_hash == borrower_hash("B00002")


def test_stored_values_are_typed(seller_client, package):
    rows = [
        loan_row(
            1,
            outstanding_principal="1234.5",
            accrued_interest="0",
            fees_and_penalties="",
            interest_rate="7.1234",
            written_off="TRUE",
            classification="",
        )
    ]

    status = import_via_api(seller_client, package.pk, tape_csv(rows))

    assert status["status"] == "succeeded", status["errors"]
    loan = Loan.objects.get()
    assert loan.outstanding_principal == Decimal("1234.50")
    assert loan.fees_and_penalties == Decimal("0.00")
    assert loan.balance == Decimal("1234.50")
    assert loan.interest_rate == Decimal("7.1234")
    assert loan.written_off is True
    assert loan.classification == ""
    assert loan.currency == "EUR" and loan.origination_date == dt.date(2018, 1, 15)


# --------------------------------------------------------------------------- borrower ids


@pytest.mark.parametrize("key", ["", "short-key", "k" * 100])
def test_borrower_ids_are_stored_only_as_hmac(seller_client, package, key):
    """Empty key: derived from SECRET_KEY; a key over 64 bytes is hashed first (RFC 2104)."""
    ids = ["B-1", "B-1", "고객-0002", "B 3 with space"]
    rows = [loan_row(n, borrower_id=bid) for n, bid in enumerate(ids, start=1)]

    with override_settings(BORROWER_HASH_KEY=key):
        status = import_via_api(seller_client, package.pk, tape_csv(rows))
        expected = {f"L{n:05d}": borrower_hash(bid) for n, bid in enumerate(ids, start=1)}

    assert status["status"] == "succeeded", status["errors"]
    stored = dict(Loan.objects.values_list("loan_id", "borrower_hash"))
    assert stored == expected
    package.refresh_from_db()
    assert package.borrower_count == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT listings_loan::text FROM listings_loan")
        dump = "\n".join(row[0] for row in cursor.fetchall())
    for bid in ids:
        assert bid not in dump


def test_borrower_hash_depends_on_the_key():
    with override_settings(BORROWER_HASH_KEY="one"):
        one = borrower_hash("B1")
    with override_settings(BORROWER_HASH_KEY="two"):
        two = borrower_hash("B1")

    assert one != two
    assert len(one) == len(two) == 64


# --------------------------------------------------------------------------- idempotency


def test_running_the_import_twice_leaves_one_set_of_loans(seller_client, package):
    import_id = upload(seller_client, package.pk, tape_csv(loan_rows(5))).json()["id"]

    assert loan_tape_import.run(import_id) == "succeeded"
    ids_after_first = sorted(Loan.objects.values_list("id", flat=True))
    assert loan_tape_import.run(import_id) == "succeeded"

    assert sorted(Loan.objects.values_list("id", flat=True)) == ids_after_first
    assert Loan.objects.filter(package=package).count() == 5
    assert audit_actions(package.pk).count("loan_tape.imported") == 1
    package.refresh_from_db()
    assert package.loan_count == 5


def test_an_interrupted_import_runs_again(seller_client, package):
    import_id = upload(seller_client, package.pk, tape_csv(loan_rows(4))).json()["id"]
    # A worker died mid-import: the claim committed, the load rolled back.
    LoanTapeImport.objects.filter(pk=import_id).update(status="processing")

    assert loan_tape_import.run(import_id) == "succeeded"
    assert loan_tape_import.run(import_id) == "succeeded"

    assert Loan.objects.filter(package=package).count() == 4


def test_a_failed_import_is_not_run_again(seller_client, package):
    rows = loan_rows(2)
    rows[0]["region"] = ""
    import_id = upload(seller_client, package.pk, tape_csv(rows)).json()["id"]

    assert loan_tape_import.run(import_id) == "failed"
    assert loan_tape_import.run(import_id) == "failed"

    assert audit_actions(package.pk).count("loan_tape.failed") == 1


@pytest.mark.django_db(transaction=True)
def test_imports_commit_and_a_second_import_runs_on_the_same_connection(make_package):
    """Committed for real (the import's temporary tables are dropped at commit)."""
    package = make_package()
    first = import_tape(package, tape_csv(loan_rows(3)))
    second = import_tape(package, tape_csv(loan_rows(2, start=20)))

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert sorted(Loan.objects.values_list("loan_id", flat=True)) == ["L00020", "L00021"]
    package = Package.objects.get(pk=package.pk)
    assert package.loan_count == 2 and package.status == PackageStatus.DRAFT


@pytest.mark.parametrize("valid", [True, False])
def test_the_uploaded_file_is_deleted_once_the_import_is_decided(
    package, valid, django_capture_on_commit_callbacks
):
    # The file holds raw borrower ids (DESIGN.md: no borrower PII stored).
    rows = loan_rows(3) if valid else [*loan_rows(2), loan_row(3, product_type="mortgage")]
    with django_capture_on_commit_callbacks(execute=True):
        tape = import_tape(package, tape_csv(rows))
    assert tape.status == ("succeeded" if valid else "failed")
    assert not Path(tape.stored_path).exists()
