"""An English auction end to end through HTTP, closed by the close task's code."""

import datetime as dt

import pytest
from django.utils import timezone

from bidding.models import Auction
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.conftest import client_for
from tests.factories import OrganizationFactory, UserFactory


@pytest.mark.django_db
def test_english_auction_flow(seller_client, compliance_client, bidder_client, approved_package):
    other_buyer = OrganizationFactory(
        kind="buyer", licence_type="local_amc", eligibility="approved"
    )
    other = client_for(UserFactory(organization=other_buyer, role="bidder"))
    now = timezone.now()
    response = seller_client.post(
        "/api/v1/auctions/",
        {
            "package": approved_package.pk,
            "format": "english",
            "starts_at": now.isoformat(),
            "ends_at": (now + dt.timedelta(hours=1)).isoformat(),
            "starting_price": "1000000.00",
            "min_increment": "10000.00",
            "reserve_price": "1100000.00",
            "deposit_amount": "50000.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    auction = response.json()
    assert auction["status"] == "open" and auction["reserve_price"] == "1100000.00"
    approved_package.refresh_from_db()
    assert approved_package.status == "in_auction"

    for client in (bidder_client, other):
        response = client.post(
            f"/api/v1/auctions/{auction['id']}/registrations/", {"accept_nda": True}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "pending_deposit"
        response = client.post(
            f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "1000000.00"}, format="json"
        )
        assert response.json()["code"] == "deposit_not_confirmed"
        registration_id = client.get(f"/api/v1/auctions/{auction['id']}/registrations/").json()[
            "results"
        ][0]["id"]
        response = compliance_client.post(
            f"/api/v1/registrations/{registration_id}/confirm-deposit/"
        )
        assert response.status_code == 200 and response.json()["status"] == "approved"

    assert (
        bidder_client.post(
            f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "999999.99"}, format="json"
        ).json()["code"]
        == "bid_too_low"
    )
    first = bidder_client.post(
        f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "1000000.00"}, format="json"
    )
    assert first.status_code == 201 and first.json()["sequence"] == 1
    assert (
        bidder_client.post(
            f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "2000000.00"}, format="json"
        ).json()["code"]
        == "already_leading"
    )
    low = other.post(
        f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "1005000.00"}, format="json"
    ).json()
    assert low["code"] == "bid_too_low" and low["minimum_bid"] == "1010000.00"
    assert (
        other.post(
            f"/api/v1/auctions/{auction['id']}/bids/", {"amount": "1200000.00"}, format="json"
        ).status_code
        == 201
    )
    detail = bidder_client.get(f"/api/v1/auctions/{auction['id']}/").json()
    assert detail["current_price"] == "1200000.00" and detail["is_leading"] is False
    assert "reserve_price" not in detail and detail["reserve_met"] is True
    bids = bidder_client.get(f"/api/v1/auctions/{auction['id']}/bids/").json()["results"]
    assert [b["bidder"] for b in bids] == ["Bidder 1", "Bidder 2"]
    assert [b["mine"] for b in bids] == [True, False]

    Auction.objects.filter(pk=auction["id"]).update(ends_at=timezone.now())
    assert close_and_settle(auction["id"]) == "awarded"
    assert close_and_settle(auction["id"]) == "awarded"  # idempotent
    settlement = Settlement.objects.get(auction_id=auction["id"])
    assert settlement.price == 1200000 and settlement.deposit_applied == 50000
    assert settlement.balance_due == 1150000
    final = other.get(f"/api/v1/auctions/{auction['id']}/").json()
    assert final["status"] == "closed" and final["outcome"] == "awarded"
    assert final["winner"]["id"] == other_buyer.pk
