"""Shared fixtures and tape builders of the listings tests.

Tapes are written in the tests themselves (``loan_row`` / ``tape_csv``), imported either through
HTTP (upload, then the Celery task's body ``loan_tape_import.run``) or, for setup, through the
services directly.
"""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from listings import services
from listings.models import LoanTapeImport, Package
from listings.tape_generator import HEADER
from listings.tasks import loan_tape_import
from marketplace.audit.models import AuditEvent
from tests.support import CUT_OFF, assert_problem
from tests.support import make_package as shared_make_package

# Re-exported: the modules of this folder import these from here.
__all__ = ["CUT_OFF", "assert_problem"]


# --------------------------------------------------------------------------- tape builders


def loan_row(n: int = 1, **overrides: str) -> dict[str, str]:
    """One valid loan of a EUR package cut off on CUT_OFF; ``overrides`` replace cells."""
    row = {
        "loan_id": f"L{n:05d}",
        "borrower_id": f"B{n:05d}",
        "product_type": "credit_card",
        "currency": "EUR",
        "origination_date": "2018-01-15",
        "default_date": "2019-06-30",
        "outstanding_principal": "1000.00",
        "accrued_interest": "100.50",
        "fees_and_penalties": "10.00",
        "days_past_due": "400",
        "last_payment_date": "2019-05-01",
        "last_payment_amount": "50.00",
        "interest_rate": "12.50",
        "borrower_age": "45",
        "region": "Seoul",
        "legal_status": "not_sued",
        "classification": "loss",
        "written_off": "false",
    }
    row.update(overrides)
    return row


def loan_rows(count: int, start: int = 1) -> list[dict[str, str]]:
    return [loan_row(n) for n in range(start, start + count)]


def tape_csv(
    rows: list[dict[str, str]],
    *,
    header: list[str] | None = None,
    newline: str = "\n",
    bom: bool = False,
) -> bytes:
    """A CSV tape: the header, then each row's cells in header order (missing cells empty)."""
    header = list(HEADER if header is None else header)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    data = out.getvalue().encode("utf-8")
    return codecs.BOM_UTF8 + data if bom else data


# --------------------------------------------------------------------------- HTTP helpers


def upload(client, package_id: int, content: bytes, name: str = "tape.csv", content_type=None):
    """POST a tape as multipart ``file``; the import is not run."""
    return client.post(
        f"/api/v1/packages/{package_id}/loan-tape/",
        {"file": SimpleUploadedFile(name, content, content_type or "text/csv")},
        format="multipart",
    )


def import_via_api(client, package_id: int, content: bytes, name: str = "tape.csv") -> dict:
    """Upload, run the import task's body, and return GET /loan-tape/ as seen by ``client``."""
    response = upload(client, package_id, content, name)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    loan_tape_import.run(response.json()["id"])
    status = client.get(f"/api/v1/packages/{package_id}/loan-tape/")
    assert status.status_code == 200, status.content
    return status.json()


def import_tape(package: Package, content: bytes, name: str = "tape.csv") -> LoanTapeImport:
    """Setup shortcut: upload and import through the services, as the package's creator."""
    file_type = "xlsx" if name.endswith(".xlsx") else "csv"
    tape = services.loan_tape_upload(
        actor=package.created_by,
        package_id=package.pk,
        upload=SimpleUploadedFile(name, content),
        file_type=file_type,
    )
    return services.loan_tape_process(import_id=tape.pk)


def audit_actions(package_id: int) -> list[str]:
    """The actions of the package's audit stream, in order."""
    return list(
        AuditEvent.objects.filter(stream=f"package:{package_id}")
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def audit_events(package_id: int, action: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(stream=f"package:{package_id}", action=action).order_by(
            "sequence"
        )
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _uploads_apart(tape_storage):
    """Uploads in a temporary folder."""


@pytest.fixture
def make_package(seller_user):
    """Create a draft package through the service (``seller`` defaults to the seller user)."""

    def make(*, seller=None, **fields):
        return shared_make_package(seller or seller_user, **fields)

    return make


@pytest.fixture
def package(make_package):
    return make_package(title="Draft cards")


# A small, varied portfolio for filter and visibility tests (balance = principal + interest + fees).
PORTFOLIO = [
    loan_row(1, product_type="credit_card", region="Seoul", legal_status="not_sued",
             days_past_due="30", outstanding_principal="1000.00", accrued_interest="0.00",
             fees_and_penalties="0.00"),
    loan_row(2, product_type="credit_card", region="Busan", legal_status="in_litigation",
             days_past_due="120", outstanding_principal="4999.99", accrued_interest="0.00",
             fees_and_penalties="0.00"),
    loan_row(3, product_type="consumer_loan", region="Seoul", legal_status="judgment_obtained",
             days_past_due="365", outstanding_principal="5000.00", accrued_interest="0.00",
             fees_and_penalties="0.00"),
    loan_row(4, product_type="consumer_loan", region="Gyeonggi", legal_status="enforcement",
             days_past_due="700", outstanding_principal="15000.00", accrued_interest="4000.00",
             fees_and_penalties="1000.00"),
    loan_row(5, product_type="personal_business_loan", region="Seoul", legal_status="settled",
             days_past_due="1200", outstanding_principal="80000.00", accrued_interest="0.00",
             fees_and_penalties=""),
    loan_row(6, product_type="credit_card", region="Gyeonggi", legal_status="not_sued",
             days_past_due="90", outstanding_principal="300.00", accrued_interest="25.50",
             fees_and_penalties="4.50"),
    loan_row(7, product_type="consumer_loan", region="Busan", legal_status="in_litigation",
             days_past_due="1096", outstanding_principal="150000.00", accrued_interest="0.00",
             fees_and_penalties="0.00"),
]  # fmt: skip


@pytest.fixture
def loaded_package(package):
    """A draft of the seller with PORTFOLIO imported."""
    tape = import_tape(package, tape_csv(PORTFOLIO))
    assert tape.status == "succeeded", tape.errors
    package.refresh_from_db()
    return package


@pytest.fixture
def approved_package(loaded_package, seller_user, compliance_user):
    services.package_submit(actor=seller_user, package_id=loaded_package.pk)
    services.package_approve(actor=compliance_user, package_id=loaded_package.pk)
    loaded_package.refresh_from_db()
    assert loaded_package.status == "approved"
    return loaded_package
