"""Who sees what of an auction and its bids (API.md "Auctions", "Bids" Visibility; DESIGN.md
Invariant 9)."""

from __future__ import annotations

import pytest

from settlement.tasks import close_and_settle
from tests.bidding.conftest import (
    auction_url,
    bid_url,
    end_auction,
    make_bidder,
    post_bid,
    register,
)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def bids_seen(client, auction) -> list[dict]:
    response = client.get(bid_url(auction))
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --------------------------------------------------------------------------- auction detail


def test_prices_and_reserve_are_shown_only_to_those_allowed(
    english_auction, english_bidders, seller_client, compliance_client
):
    registered = client_for(english_bidders[0])
    outsider = client_for(make_bidder())
    assert post_bid(registered, english_auction, "1000000.00").status_code == 201

    seen = {
        "seller": seller_client.get(auction_url(english_auction)).json(),
        "platform": compliance_client.get(auction_url(english_auction)).json(),
        "registered": registered.get(auction_url(english_auction)).json(),
        "outsider": outsider.get(auction_url(english_auction)).json(),
    }

    for who in ("seller", "platform"):
        assert seen[who]["reserve_price"] == "1100000.00", who
    for who in ("registered", "outsider"):
        assert "reserve_price" not in seen[who], who
    for who in ("seller", "platform", "registered"):
        assert seen[who]["starting_price"] == "1000000.00", who
        assert seen[who]["min_increment"] == "10000.00", who
        assert seen[who]["current_price"] == "1000000.00", who
        assert seen[who]["minimum_next_bid"] == "1010000.00", who
        assert seen[who]["reserve_met"] is False, who
    assert seen["outsider"]["starting_price"] is None
    assert seen["outsider"]["min_increment"] is None
    assert seen["outsider"]["current_price"] is None
    # Everyone who may see the auction sees its public facts.
    assert {s["bid_count"] for s in seen.values()} == {1}
    assert {s["status"] for s in seen.values()} == {"open"}
    assert seen["registered"]["is_leading"] is True
    assert seen["seller"]["is_leading"] is False


def test_reserve_met_turns_true_once_the_price_reaches_the_reserve(
    english_auction, english_bidders
):
    client = client_for(english_bidders[0])
    assert post_bid(client, english_auction, "1100000.00").status_code == 201

    assert client.get(auction_url(english_auction)).json()["reserve_met"] is True


def test_registrations_list_all_to_seller_and_platform_and_own_to_a_buyer(
    english_auction, english_bidders, seller_client, compliance_client
):
    alpha = english_bidders[0]
    outsider = client_for(make_bidder())
    url = f"/api/v1/auctions/{english_auction.pk}/registrations/"

    def buyers(client):
        response = client.get(url)
        assert response.status_code == 200, response.content
        return {r["buyer"]["id"] for r in response.json()["results"]}

    everyone = {b.organization_id for b in english_bidders}
    assert buyers(seller_client) == everyone
    assert buyers(compliance_client) == everyone
    assert buyers(client_for(alpha)) == {alpha.organization_id}
    assert buyers(outsider) == set()


# --------------------------------------------------------------------------- English bids


def test_english_aliases_are_stable_in_order_of_first_bid(
    english_auction, english_bidders, seller_client, compliance_client
):
    alpha, beta, gamma = english_bidders
    a, b, c = client_for(alpha), client_for(beta), client_for(gamma)
    # Beta bids first, then Alpha, then Beta again, then Gamma.
    for client, amount in [(b, "1000000.00"), (a, "1010000.00"), (b, "1020000.00")]:
        assert post_bid(client, english_auction, amount).status_code == 201
    assert post_bid(c, english_auction, "1030000.00").status_code == 201

    first = bids_seen(a, english_auction)
    assert [x["bidder"] for x in first] == ["Bidder 1", "Bidder 2", "Bidder 1", "Bidder 3"]
    assert [x["mine"] for x in first] == [False, True, False, False]
    assert [x["sequence"] for x in first] == [1, 2, 3, 4]
    assert [x["amount"] for x in first] == ["1000000.00", "1010000.00", "1020000.00", "1030000.00"]
    # The same on a second request, and for another registered buyer (except `mine`).
    assert bids_seen(a, english_auction) == first
    seen_by_beta = bids_seen(b, english_auction)
    assert [x["bidder"] for x in seen_by_beta] == [x["bidder"] for x in first]
    assert [x["mine"] for x in seen_by_beta] == [True, False, True, False]
    # More bids do not renumber anyone.
    assert post_bid(a, english_auction, "1040000.00").status_code == 201
    later = bids_seen(c, english_auction)
    assert [x["bidder"] for x in later] == [
        "Bidder 1",
        "Bidder 2",
        "Bidder 1",
        "Bidder 3",
        "Bidder 2",
    ]
    assert [x["mine"] for x in later] == [False, False, False, True, False]
    # No organisation name leaks to buyers.
    names = {u.organization.name for u in english_bidders}
    assert not names & {x["bidder"] for x in later}

    for insider in (seller_client, compliance_client):
        rows = bids_seen(insider, english_auction)
        assert [x["bidder"] for x in rows] == [
            beta.organization.name,
            alpha.organization.name,
            beta.organization.name,
            gamma.organization.name,
            alpha.organization.name,
        ]
        assert not any(x["mine"] for x in rows)


def test_unregistered_buyers_do_not_see_english_bids(english_auction, english_bidders):
    assert (
        post_bid(client_for(english_bidders[0]), english_auction, "1000000.00").status_code == 201
    )

    response = client_for(make_bidder()).get(bid_url(english_auction))

    assert response.status_code == 403
    assert "1000000.00" not in response.content.decode()


# --------------------------------------------------------------------------- sealed bids


@pytest.fixture
def sealed_with_bids(sealed_auction, registered_bidder):
    """Alpha bids 1,200,000 then 1,300,000; Beta bids 1,250,000."""
    alpha = registered_bidder(sealed_auction, name="Alpha Sealed")
    beta = registered_bidder(sealed_auction, name="Beta Sealed")
    for user, amount in [(alpha, "1200000.00"), (beta, "1250000.00"), (alpha, "1300000.00")]:
        assert post_bid(client_for(user), sealed_auction, amount).status_code == 201
    return sealed_auction, alpha, beta


def test_sealed_bids_before_close(sealed_with_bids, seller_client, compliance_client):
    auction, alpha, beta = sealed_with_bids

    mine = bids_seen(client_for(alpha), auction)
    assert [x["amount"] for x in mine] == ["1200000.00", "1300000.00"]
    assert all(x["mine"] for x in mine)
    assert [x["amount"] for x in bids_seen(client_for(beta), auction)] == ["1250000.00"]
    assert bids_seen(seller_client, auction) == []
    everything = bids_seen(compliance_client, auction)
    assert [x["amount"] for x in everything] == ["1200000.00", "1250000.00", "1300000.00"]
    assert [x["bidder"] for x in everything] == [
        alpha.organization.name,
        beta.organization.name,
        alpha.organization.name,
    ]
    # No price, no leader is disclosed by the auction itself.
    for client in (client_for(alpha), client_for(beta), seller_client, compliance_client):
        detail = client.get(auction_url(auction)).json()
        assert detail["current_price"] is None
        assert detail["minimum_next_bid"] is None
        assert detail["is_leading"] is False
        assert detail["winner"] is None


def test_sealed_bids_after_close_are_seen_by_everyone_who_may_see_the_auction(
    sealed_with_bids, seller_client, compliance_client
):
    auction, alpha, beta = sealed_with_bids
    outsider = client_for(make_bidder())
    end_auction(auction)
    assert close_and_settle(auction.pk) == "awarded"

    expected = ["1200000.00", "1250000.00", "1300000.00"]
    for client in (
        client_for(alpha),
        client_for(beta),
        seller_client,
        compliance_client,
        outsider,
    ):
        rows = bids_seen(client, auction)
        assert [x["amount"] for x in rows] == expected
        assert client.get(auction_url(auction)).json()["current_price"] is None
    beta_rows = bids_seen(client_for(beta), auction)
    assert [x["mine"] for x in beta_rows] == [False, True, False]


# --------------------------------------------------------------------------- winner


def test_winner_is_shown_only_to_seller_platform_and_winner(
    english_auction, english_bidders, seller_client, compliance_client, admin_client
):
    alpha, beta, gamma = english_bidders
    assert post_bid(client_for(alpha), english_auction, "1100000.00").status_code == 201
    assert post_bid(client_for(beta), english_auction, "1200000.00").status_code == 201
    before = client_for(beta).get(auction_url(english_auction)).json()
    assert before["winner"] is None  # nobody has won while the auction runs
    end_auction(english_auction)
    assert close_and_settle(english_auction.pk) == "awarded"

    for client in (seller_client, compliance_client, admin_client, client_for(beta)):
        detail = client.get(auction_url(english_auction)).json()
        assert detail["status"] == "closed" and detail["outcome"] == "awarded"
        assert detail["winner"]["id"] == beta.organization_id
        assert detail["winner"]["price"] == "1200000.00"
    for client in (client_for(alpha), client_for(gamma), client_for(make_bidder())):
        detail = client.get(auction_url(english_auction)).json()
        assert detail["status"] == "closed" and detail["outcome"] == "awarded"
        assert detail["winner"] is None
    assert client_for(beta).get(auction_url(english_auction)).json()["is_leading"] is True


def test_detail_shows_the_callers_own_registration(english_auction):
    bidder = make_bidder()
    client = client_for(bidder)
    assert client.get(auction_url(english_auction)).json()["registration"] is None

    register(bidder, english_auction)

    assert client.get(auction_url(english_auction)).json()["registration"]["status"] == (
        "pending_deposit"
    )
