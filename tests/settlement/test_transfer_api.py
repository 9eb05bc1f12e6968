"""The transfer registry and the loan schedule over HTTP (API.md "Settlements, ledger,
transfers"): platform all, parties their own, everyone else nothing; the schedule's CSV is
enough to recompute the registry's digest."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from listings import ownership
from listings.models import Loan
from marketplace.audit.models import AuditEvent
from settlement.models import Settlement, Transfer
from tests.factories import TransferFactory
from tests.settlement.conftest import digest_of, paid_settlement_of
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db

SCHEDULE_FIELDS = [
    "loan_id",
    "borrower_hash",
    "principal",
    "interest",
    "fees",
    "balance",
    "days_past_due",
]


@pytest.fixture
def transfer(seller_user, tape_storage) -> Transfer:
    ids = [
        "CN-000002",
        "CN-000010",
        "cn-000001",
        "CN-A0001",
        "=HYPERLINK(1)",
        "CN-000003",
        'CN-"Q",7',
    ]
    return TransferFactory(settlement=paid_settlement_of(seller_user, loan_ids=ids))


def buyer_of(transfer: Transfer):
    return Settlement.objects.get(pk=transfer.settlement_id).bid.registration.registered_by


def streamed(response) -> str:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode("utf-8")


def test_the_registry_shows_every_field_to_the_parties_and_the_platform(
    transfer, seller_user, compliance_user
):
    for user in (seller_user, buyer_of(transfer), compliance_user):
        response = client_for(user).get("/api/v1/transfers/")

        assert response.status_code == 200
        [row] = response.json()["results"]
        assert row["id"] == transfer.pk
        assert row["package"] == transfer.package_id
        assert row["seller"]["id"] == transfer.seller_id
        assert row["buyer"]["id"] == transfer.buyer_id
        assert row["settlement"] == transfer.settlement_id
        assert Decimal(row["price"]) == transfer.price
        assert row["loan_count"] == 7
        assert Decimal(row["total_balance"]) == transfer.total_balance
        assert row["digest"] == transfer.digest
        assert row["transferred_at"]


def test_outsiders_see_no_transfer(transfer, other_bank_user, granted_buyer_user):
    for user in (other_bank_user, granted_buyer_user):
        client = client_for(user)

        assert client.get("/api/v1/transfers/").json()["count"] == 0
        assert client.get(f"/api/v1/transfers/{transfer.pk}/").status_code == 404
        assert client.get(f"/api/v1/transfers/{transfer.pk}/loans/").status_code == 404
        csv_response = client.get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv")
        assert csv_response.status_code == 404


def test_the_detail_is_one_record(transfer, seller_user):
    response = client_for(seller_user).get(f"/api/v1/transfers/{transfer.pk}/")

    assert response.status_code == 200
    assert response.json()["digest"] == transfer.digest


def test_the_registry_filters_by_party_and_time(transfer, seller_user, compliance_user):
    other = TransferFactory()
    client = client_for(compliance_user)
    at = transfer.transferred_at

    def ids(query: str) -> set[int]:
        return {row["id"] for row in client.get(f"/api/v1/transfers/?{query}").json()["results"]}

    assert ids("") == {transfer.pk, other.pk}
    assert ids(f"seller={transfer.seller_id}") == {transfer.pk}
    assert ids(f"buyer={other.buyer_id}") == {other.pk}
    after = (at - dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    before = (at + dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert transfer.pk in ids(f"transferred_after={after}&transferred_before={before}")
    assert transfer.pk not in ids(f"transferred_before={after}")
    assert transfer.pk not in ids(f"transferred_after={before}")


def test_the_registry_as_csv(transfer, compliance_user):
    text = streamed(client_for(compliance_user).get("/api/v1/transfers/?format=csv"))

    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in rows] == [transfer.pk]
    assert rows[0]["digest"] == transfer.digest
    assert int(rows[0]["loan_count"]) == transfer.loan_count
    assert Decimal(rows[0]["total_balance"]) == transfer.total_balance
    assert int(rows[0]["buyer_id"]) == transfer.buyer_id


def test_the_loan_schedule_is_ordered_by_loan_id_bytes_and_paginated(transfer, seller_user):
    client = client_for(seller_user)

    first = client.get(f"/api/v1/transfers/{transfer.pk}/loans/?page_size=4").json()
    second = client.get(f"/api/v1/transfers/{transfer.pk}/loans/?page_size=4&page=2").json()

    assert first["count"] == 7
    rows = first["results"] + second["results"]
    assert list(rows[0]) == SCHEDULE_FIELDS
    ids = [r["loan_id"] for r in rows]
    assert ids == sorted(ids, key=lambda i: i.encode())
    assert ids[0] == "=HYPERLINK(1)" and ids[-1] == "cn-000001"
    loan = Loan.objects.get(transfer_id=transfer.pk, loan_id=ids[1])
    assert rows[1]["borrower_hash"] == loan.borrower_hash
    assert Decimal(rows[1]["principal"]) == loan.outstanding_principal
    assert Decimal(rows[1]["interest"]) == loan.accrued_interest
    assert Decimal(rows[1]["fees"]) == loan.fees_and_penalties
    assert Decimal(rows[1]["balance"]) == loan.balance
    assert rows[1]["days_past_due"] == loan.days_past_due


@pytest.mark.parametrize("page_rows", [2, 3, 7, 20_000])
def test_the_buyer_recomputes_the_digest_from_the_csv_schedule(transfer, page_rows, monkeypatch):
    monkeypatch.setattr(ownership, "_SCHEDULE_PAGE_ROWS", page_rows)  # pages of the stream
    text = streamed(
        client_for(buyer_of(transfer)).get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv")
    )

    reader = csv.reader(io.StringIO(text))
    assert next(reader) == SCHEDULE_FIELDS
    rows = list(reader)
    assert len(rows) == transfer.loan_count == 7
    # A cell a spreadsheet would run gets a leading quote; the loan id is what follows it.
    loan_ids = [r[0][1:] if r[0].startswith("'=") else r[0] for r in rows]
    assert rows[0][0] == "'=HYPERLINK(1)"
    pairs = [(loan_id, Decimal(r[5])) for loan_id, r in zip(loan_ids, rows, strict=True)]
    assert digest_of(pairs) == transfer.digest
    assert sum(balance for _, balance in pairs) == transfer.total_balance
    assert loan_ids == sorted(loan_ids, key=lambda i: i.encode())
    assert 'CN-"Q",7' in loan_ids  # quoted as csv quotes


def test_every_read_of_the_schedule_is_audited(transfer, compliance_user):
    client = client_for(compliance_user)

    client.get(f"/api/v1/transfers/{transfer.pk}/loans/")
    streamed(client.get(f"/api/v1/transfers/{transfer.pk}/loans/?format=csv"))

    accesses = AuditEvent.objects.filter(
        stream=f"package:{transfer.package_id}", action="data_room.accessed"
    ).order_by("sequence")
    assert [(e.data["format"], e.data["row_count"]) for e in accesses] == [("json", 7), ("csv", 7)]
    assert all(e.data["filters"] == {"transfer": transfer.pk} for e in accesses)


def test_the_buyer_sees_its_loans_in_the_package_after_the_transfer(transfer, granted_buyer_user):
    url = f"/api/v1/packages/{transfer.package_id}/loans/?owner=me"

    mine = client_for(buyer_of(transfer)).get(url)
    others = client_for(granted_buyer_user).get(url)

    assert mine.status_code == 200
    assert mine.json()["count"] == 7
    assert {r["owner"] for r in mine.json()["results"]} == {transfer.buyer_id}
    assert others.status_code == 200 and others.json()["count"] == 0


def test_before_the_transfer_the_buyer_owns_nothing(seller_user, tape_storage):
    settlement = paid_settlement_of(seller_user)
    buyer = settlement.bid.registration.registered_by

    response = client_for(buyer).get(f"/api/v1/packages/{settlement.package_id}/loans/?owner=me")

    assert response.status_code == 200 and response.json()["count"] == 0


def test_without_a_token_the_registry_is_closed(api, transfer):
    for path in ("/api/v1/transfers/", f"/api/v1/transfers/{transfer.pk}/loans/"):
        assert_problem(api.get(path), 401, "not_authenticated")
