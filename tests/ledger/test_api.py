"""GET /api/v1/ledger/entries/ and /ledger/balances/ over HTTP: the platform sees every
organisation's accounts, any other organisation only its own (API.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.ledger.models import Entry
from tests.support import assert_problem

pytestmark = pytest.mark.django_db

ENTRIES = "/api/v1/ledger/entries/"
BALANCES = "/api/v1/ledger/balances/"


def all_pages(client, url, **params):
    rows, page = [], 1
    while True:
        body = client.get(url, {**params, "page": page, "page_size": 200}).json()
        rows += body["results"]
        if body["next"] is None:
            return rows
        page += 1


def test_the_platform_sees_every_entry(admin_client, compliance_client, closed_sale):
    for client in (admin_client, compliance_client):
        rows = all_pages(client, ENTRIES)

        assert len(rows) == Entry.objects.count() > 0
        assert {r["organization"] for r in rows} >= {
            closed_sale.winner.buyer_id,
            closed_sale.loser.buyer_id,
            closed_sale.seller_id,
        }


def test_an_entry_has_the_fields_of_the_contract(bidder_client, closed_sale):
    rows = all_pages(bidder_client, ENTRIES, kind="deposit_held")

    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {
        "id",
        "transaction_id",
        "account",
        "organization",
        "amount",
        "kind",
        "settlement",
        "registration",
        "created_at",
    }
    assert row["account"] == "deposits_held"
    assert row["amount"] == "-400000.00"  # a credit: the platform owes it back
    assert row["registration"] == closed_sale.winner.pk
    assert row["settlement"] is None
    assert row["created_at"].endswith("Z") or row["created_at"].endswith("+00:00")


@pytest.mark.parametrize("who", ["bidder", "granted_buyer", "seller"])
def test_an_organisation_sees_only_its_own_entries(
    who, bidder_client, granted_buyer_client, seller_client, closed_sale
):
    client = {
        "bidder": bidder_client,
        "granted_buyer": granted_buyer_client,
        "seller": seller_client,
    }[who]
    own = client.user.organization_id

    rows = all_pages(client, ENTRIES)

    assert rows and {r["organization"] for r in rows} == {own}
    assert len(rows) == Entry.objects.filter(organization_id=own).count()


def test_filtering_on_another_organisation_shows_nothing(bidder_client, closed_sale):
    assert all_pages(bidder_client, ENTRIES, organization=closed_sale.seller_id) == []
    assert bidder_client.get(BALANCES, {"organization": closed_sale.seller_id}).json() == []


def test_filters_by_kind_account_settlement_and_transaction(admin_client, closed_sale):
    settlement_id = closed_sale.settlement.pk

    due = all_pages(admin_client, ENTRIES, kind="settlement_due")
    by_settlement = all_pages(admin_client, ENTRIES, settlement=settlement_id)
    payable = all_pages(admin_client, ENTRIES, account="seller_payable")
    one_txn = all_pages(admin_client, ENTRIES, transaction_id=due[0]["transaction_id"])

    assert {r["kind"] for r in due} == {"settlement_due"} and len(due) == 2
    assert {r["settlement"] for r in by_settlement} == {settlement_id}
    assert {r["kind"] for r in by_settlement} == {"settlement_due", "deposit_applied"}
    assert [r["amount"] for r in payable] == ["-9100000.00"]
    assert sorted(r["amount"] for r in one_txn) == ["-9100000.00", "9100000.00"]


def test_a_bad_filter_value_is_a_validation_error(admin_client):
    response = admin_client.get(ENTRIES, {"account": "petty_cash"})

    assert_problem(response, 400, "validation_error")


def test_balances_of_the_platform_after_a_close(admin_client, closed_sale, platform_org):
    rows = admin_client.get(BALANCES).json()
    balances = {(r["organization"], r["account"]): Decimal(r["balance"]) for r in rows}

    # The loser's deposit went back; the winner's stays in escrow, applied to the price.
    assert balances[(platform_org.pk, "platform_cash")] == Decimal("400000.00")
    assert balances[(closed_sale.winner.buyer_id, "settlement_payable")] == Decimal("8700000.00")
    assert balances[(closed_sale.seller_id, "seller_payable")] == Decimal("-9100000.00")
    assert balances[(closed_sale.winner.buyer_id, "deposits_held")] == 0
    assert sum(balances.values()) == 0
    assert {r["currency"] for r in rows} == {"CNY"}


def test_balances_of_an_organisation_are_its_own(bidder_client, closed_sale):
    rows = bidder_client.get(BALANCES).json()

    assert {r["organization"] for r in rows} == {closed_sale.winner.buyer_id}
    assert {r["account"]: r["balance"] for r in rows} == {
        "deposits_held": "0.00",
        "settlement_payable": "8700000.00",
    }


def test_balances_filter_by_account(admin_client, closed_sale):
    rows = admin_client.get(BALANCES, {"account": "seller_payable"}).json()

    assert rows == [
        {
            "organization": closed_sale.seller_id,
            "account": "seller_payable",
            "currency": "CNY",
            "balance": "-9100000.00",
        }
    ]


@pytest.mark.parametrize("url", [ENTRIES, BALANCES, "/api/v1/ledger/verify/"])
def test_no_token_is_401(api, url):
    assert_problem(api.get(url), 401, "not_authenticated")


@pytest.mark.parametrize("who", ["bidder", "seller"])
def test_only_the_platform_verifies_the_ledger(who, bidder_client, seller_client):
    client = bidder_client if who == "bidder" else seller_client

    assert_problem(client.get("/api/v1/ledger/verify/"), 403, "permission_denied")


def test_compliance_verifies_the_ledger(compliance_client, closed_sale):
    body = compliance_client.get("/api/v1/ledger/verify/").json()

    assert body["valid"] is True
    assert body["transactions_checked"] == len(set(Entry.objects.values_list("transaction_id")))
    assert body["registrations_checked"] == 2
    assert "first_invalid" not in body


def test_an_entry_of_another_organisation_is_not_found(bidder_client, admin_client, closed_sale):
    own = Entry.objects.filter(organization_id=closed_sale.winner.buyer_id).first()
    other = Entry.objects.filter(organization_id=closed_sale.seller_id).first()

    assert bidder_client.get(f"{ENTRIES}{own.pk}/").json()["id"] == own.pk
    assert_problem(bidder_client.get(f"{ENTRIES}{other.pk}/"), 404, "not_found")
    assert admin_client.get(f"{ENTRIES}{other.pk}/").json()["amount"] == f"{other.amount:.2f}"
