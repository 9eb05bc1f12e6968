"""The settlements API (API.md "Settlements"): every field of the contract, scoping, filters."""

from __future__ import annotations

import pytest
from django.utils import timezone

from settlement.defaults import settlements_default_due
from settlement.transfers import loans_transfer
from tests.settlement.conftest import make_overdue
from tests.support import client_for

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "auction",
    "package",
    "seller",
    "buyer",
    "price",
    "deposit_applied",
    "balance_due",
    "due_at",
    "status",
    "payment_reference",
    "paid_at",
    "completed_at",
    "transfer",
    "runner_up_of",
}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_detail_has_every_field_of_the_contract(three_bidders, seller_client):
    settlement = three_bidders.settlement

    body = seller_client.get(f"/api/v1/settlements/{settlement.pk}/").json()

    assert set(body) >= FIELDS
    assert body["auction"] == three_bidders.auction.pk
    assert body["package"] == three_bidders.package.pk
    assert body["buyer"]["id"] == three_bidders.bidders[-1].organization_id
    assert (body["price"], body["deposit_applied"], body["balance_due"]) == (
        "9000000.00",
        "400000.00",
        "8600000.00",
    )
    assert body["payment_reference"] == ""
    assert body["transfer"] is None
    assert body["runner_up_of"] is None


def test_parties_see_their_own_and_the_platform_all(sale, three_bidders, compliance_client):
    other = sale(["9100000.00"])
    winner = client_for(three_bidders.bidders[-1])
    loser = client_for(three_bidders.bidders[0])

    assert ids(winner.get("/api/v1/settlements/")) == [three_bidders.settlement.pk]
    assert ids(loser.get("/api/v1/settlements/")) == []
    assert set(ids(compliance_client.get("/api/v1/settlements/"))) == {
        three_bidders.settlement.pk,
        other.settlement.pk,
    }


def test_filters(sale, three_bidders, compliance_client):
    other = sale(["9100000.00"])
    make_overdue(other.settlement)
    settlements_default_due()
    first, second = three_bidders.settlement, other.settlement

    def listed(**params) -> list[int]:
        return ids(compliance_client.get("/api/v1/settlements/", params))

    assert listed(status="defaulted") == [second.pk]
    assert listed(status="awaiting_payment") == [first.pk]
    assert listed(auction=three_bidders.auction.pk) == [first.pk]
    assert listed(buyer=other.bidders[0].organization_id) == [second.pk]
    assert sorted(listed(seller=first.seller_id)) == sorted([first.pk, second.pk])
    assert listed(due_before=timezone.now().isoformat()) == [second.pk]


def test_transfer_is_the_transfer_records_id_once_ownership_moved(
    three_bidders, compliance_client, seller_client
):
    settlement = three_bidders.settlement
    compliance_client.post(
        f"/api/v1/settlements/{settlement.pk}/confirm-payment/",
        {"amount": "8600000.00", "reference": "R-9"},
        format="json",
    )

    transfer = loans_transfer(settlement_id=settlement.pk)

    body = seller_client.get(f"/api/v1/settlements/{settlement.pk}/").json()
    assert transfer is not None
    assert body["transfer"] == transfer.pk
    assert body["status"] == "completed"
    assert body["completed_at"] is not None
    assert body["payment_reference"] == "R-9"
