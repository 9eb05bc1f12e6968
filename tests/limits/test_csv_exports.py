"""Every CSV export neutralises cells a spreadsheet would run as formulas (OWASP CSV injection:
``=``, ``+``, ``-``, ``@``, tab, carriage return), from a real uploaded tape, while the JSON API
answers the values as stored and plain numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection

from listings.models import Loan
from listings.tape_generator import HEADER
from marketplace.accounts.models import Organization
from marketplace.common.csv import safe_cell, safe_cell_sql
from tests.factories import AuditEventFactory, TransferFactory
from tests.listings.conftest import import_via_api, loan_row
from tests.settlement.conftest import paid_settlement_of
from tests.support import client_for, make_package

HOSTILE = ["\t=1+1", "\r=SUM(A1)", "=HYPERLINK(1)", "+1+cmd", "-2+cmd", "@SUM(1)"]
PLAIN = ["-12.50", "+3", "-1e5", ".5", "CN-1", "a=b", ""]


def quoted_tape(rows: list[dict[str, str]]) -> bytes:
    """A CSV tape with every cell quoted (RFC 4180), so a carriage return inside a cell is data."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([row[column] for column in HEADER] for row in rows)
    return out.getvalue().encode()


def read(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


def test_the_rule_quotes_formulas_and_leaves_numbers_alone():
    for value in HOSTILE:
        assert safe_cell(value) == "'" + value
    for value in PLAIN:
        assert safe_cell(value) == value
    assert safe_cell(None) == ""
    assert safe_cell(-5) == -5  # numeric columns are never strings


@pytest.mark.django_db
def test_the_sql_form_of_the_rule_agrees_with_the_python_form():
    values = [*HOSTILE, *PLAIN, "-inf", "-1_000", "\n=1", "'=1", "-1\n"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v, {safe_cell_sql('v')} FROM unnest(%s::text[]) AS t(v)",
            [values],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(values)
    for value, quoted in rows:
        assert quoted == safe_cell(value), repr(value)


def test_data_room_export_of_an_uploaded_tape(seller_user, seller_client, tape_storage):
    package = make_package(seller_user)
    rows = [
        loan_row(1, loan_id="\t=1+1", region="\r=SUM(A1)"),
        loan_row(2, loan_id="-2+cmd", region="@SUM(1)"),
        loan_row(3, loan_id="-42", region="Seoul"),
    ]
    assert import_via_api(seller_client, package.pk, quoted_tape(rows))["status"] == "succeeded"

    # The JSON API answers the values as uploaded.
    listed = seller_client.get(f"/api/v1/packages/{package.pk}/loans/").json()["results"]
    assert {(r["loan_id"], r["region"]) for r in listed} == {
        ("\t=1+1", "\r=SUM(A1)"),
        ("-2+cmd", "@SUM(1)"),
        ("-42", "Seoul"),
    }

    exported = read(seller_client.get(f"/api/v1/packages/{package.pk}/loans/?format=csv"))
    header, body = exported[0], exported[1:]
    cells = {(r[header.index("loan_id")], r[header.index("region")]) for r in body}
    assert cells == {
        ("'\t=1+1", "'\r=SUM(A1)"),
        ("'-2+cmd", "'@SUM(1)"),
        ("-42", "Seoul"),  # a number-like id stays as it is
    }
    for row in body:  # numeric columns keep their values
        assert row[header.index("outstanding_principal")] == "1000.00"


def test_loan_schedule_and_transfer_registry_exports(seller_user, compliance_user, tape_storage):
    ids = ["\t=1+1", "\r@cmd", "-5", "CN-000001"]
    # The demo tape writer leaves a carriage return unquoted (the import rightly refuses it):
    # upload "CR@cmd" and put the carriage return in place before the transfer.
    settlement = paid_settlement_of(seller_user, loan_ids=["\t=1+1", "CR@cmd", "-5", "CN-000001"])
    Loan.objects.filter(package=settlement.auction.package, loan_id="CR@cmd").update(
        loan_id="\r@cmd"
    )
    transfer = TransferFactory(settlement=settlement)
    client = client_for(compliance_user)

    schedule = read(client.get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv"))
    assert sorted(r[0] for r in schedule[1:]) == sorted(["'\t=1+1", "'\r@cmd", "-5", "CN-000001"])
    json_ids = client.get(f"/api/v1/transfers/{transfer.pk}/loans/").json()["results"]
    assert sorted(r["loan_id"] for r in json_ids) == sorted(ids)
    assert Loan.objects.filter(transfer_id=transfer.pk, loan_id="\t=1+1").exists()

    Organization.objects.filter(pk=transfer.seller_id).update(name="\t=cmd|' /C calc'!A0")
    registry = read(client.get("/api/v1/transfers/?format=csv"))
    header = registry[0]
    assert registry[1][header.index("seller_name")] == "'\t=cmd|' /C calc'!A0"
    assert client.get("/api/v1/transfers/").json()["results"][0]["seller"]["name"].startswith("\t=")


def test_audit_export(compliance_client):
    AuditEventFactory(action="deal.noted", object_type="deal", object_id="\r=1+1")

    rows = read(compliance_client.get("/api/v1/audit-events/?format=csv&object_type=deal"))

    assert rows[1][rows[0].index("object_id")] == "'\r=1+1"
