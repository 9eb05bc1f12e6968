"""A sealed auction keeps its bids sealed (API.md "Bids"): its end never moves, so it closes at
the end its terms set and no bidder learns that another has bid; its bids are revealed when it
closes, never on cancel. An English auction still extends on soft close."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from bidding.models import Auction
from settlement.tasks import close_and_settle
from tests.bidding.conftest import (
    actions_of,
    assert_problem,
    auction_url,
    bid_url,
    make_auction,
    make_bidder,
    post_bid,
)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _end_in(auction: Auction, seconds: float) -> dt.datetime:
    """Move the auction's end (and the end its terms set) to ``seconds`` from now."""
    end = timezone.now() + dt.timedelta(seconds=seconds)
    Auction.objects.filter(pk=auction.pk).update(ends_at=end, original_ends_at=end)
    return Auction.objects.get(pk=auction.pk).ends_at


# --------------------------------------------------------------------------- the end


@pytest.mark.parametrize("auction_format", ["english", "sealed"])
def test_a_bid_inside_the_soft_close_window_extends_only_an_english_auction(
    seller_user, registered_bidder, sent_tasks, django_capture_on_commit_callbacks, auction_format
):
    auction = make_auction(seller_user, format=auction_format)  # soft close 300 s / 300 s
    client = client_for(registered_bidder(auction))
    end = _end_in(auction, 60)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_bid(client, auction, "1000000.00")

    assert response.status_code == 201, response.content
    placed_at = dt.datetime.fromisoformat(response.json()["placed_at"])
    detail = client.get(auction_url(auction)).json()
    auction.refresh_from_db()
    if auction_format == "english":
        assert auction.ends_at == placed_at + dt.timedelta(seconds=300) > end
        assert dt.datetime.fromisoformat(detail["ends_at"]) == auction.ends_at
        assert len(actions_of(auction, "auction.extended")) == 1
        assert sent_tasks == [("settlement.auction_close", [auction.pk], auction.ends_at)]
    else:
        assert auction.ends_at == auction.original_ends_at == end
        assert dt.datetime.fromisoformat(detail["ends_at"]) == end
        assert detail["ends_at"] == detail["original_ends_at"]
        assert actions_of(auction, "auction.extended") == []
        assert sent_tasks == []  # the close stays where auction_create put it


def test_a_sealed_auction_never_moves_its_end_however_many_bids_come_late(
    seller_user, registered_bidder
):
    auction = make_auction(seller_user, format="sealed", soft_close_seconds=86_400)
    clients = [client_for(registered_bidder(auction)) for _ in range(3)]
    end = _end_in(auction, 120)  # the whole rest of the auction is inside the window

    for n, client in enumerate(clients * 2):
        assert post_bid(client, auction, f"{1000000 + n}.00").status_code == 201

    auction.refresh_from_db()
    assert auction.bid_count == 6
    assert auction.ends_at == auction.original_ends_at == end
    assert actions_of(auction, "auction.extended") == []


@pytest.mark.parametrize("auction_format", ["english", "sealed"])
def test_a_sealed_auction_closes_at_its_original_end_an_english_one_runs_on(
    seller_user, registered_bidder, auction_format
):
    auction = make_auction(seller_user, format=auction_format)
    client = client_for(registered_bidder(auction))
    end = _end_in(auction, 2)
    assert post_bid(client, auction, "1200000.00").status_code == 201
    assert close_and_settle(auction.pk) == "open"  # its end has not come

    time.sleep(max(0.0, (end - timezone.now()).total_seconds()) + 0.05)
    outcome = close_and_settle(auction.pk)

    auction.refresh_from_db()
    if auction_format == "sealed":
        assert outcome == "awarded" and auction.status == "closed"
        assert auction.ends_at == auction.original_ends_at == end <= auction.closed_at
    else:  # the bid extended it: at its original end it is still open
        assert outcome == "open" and auction.status == "open"
        assert auction.ends_at > end == auction.original_ends_at


# --------------------------------------------------------------------------- what is seen


@pytest.fixture
def sealed_bids(seller_user, registered_bidder):
    """A sealed auction: Alpha bids 1,200,000 then 1,300,000; Beta bids 1,250,000."""
    auction = make_auction(seller_user, format="sealed")
    alpha = registered_bidder(auction, name="Alpha Sealed")
    beta = registered_bidder(auction, name="Beta Sealed")
    for user, amount in [(alpha, "1200000.00"), (beta, "1250000.00"), (alpha, "1300000.00")]:
        assert post_bid(client_for(user), auction, amount).status_code == 201
    return auction, alpha, beta


def _amounts(client, auction) -> list[str]:
    response = client.get(bid_url(auction))
    assert response.status_code == 200, response.content
    return [row["amount"] for row in response.json()["results"]]


def test_an_open_sealed_auction_shows_no_bid_count_to_its_buyers_or_its_seller(
    sealed_bids, seller_client, compliance_client
):
    auction, alpha, beta = sealed_bids
    outsider = client_for(make_bidder())

    for client in (client_for(alpha), client_for(beta), seller_client, outsider):
        assert client.get(auction_url(auction)).json()["bid_count"] is None
    assert compliance_client.get(auction_url(auction)).json()["bid_count"] == 3


@pytest.mark.parametrize("cancelled_by", ["seller", "compliance"])
def test_a_cancelled_sealed_auction_reveals_no_bid(
    sealed_bids, seller_user, seller_client, compliance_client, cancelled_by
):
    auction, alpha, beta = sealed_bids
    outsider = client_for(make_bidder())
    canceller = {"seller": seller_client, "compliance": compliance_client}[cancelled_by]
    response = canceller.post(f"{auction_url(auction)}cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # The bids list: each buyer still sees only its own bids, the seller none, an outsider is
    # refused; the platform keeps the view it had while the auction ran (all of them).
    assert _amounts(client_for(alpha), auction) == ["1200000.00", "1300000.00"]
    assert _amounts(client_for(beta), auction) == ["1250000.00"]
    assert _amounts(seller_client, auction) == []
    assert_problem(outsider.get(bid_url(auction)), 403, "not_registered")
    assert _amounts(compliance_client, auction) == ["1200000.00", "1250000.00", "1300000.00"]
    # Nothing of anyone else's bids in anything the buyers or the seller can read.
    seen = {
        "alpha": (client_for(alpha), {"1250000.00", "Beta Sealed"}),
        "beta": (client_for(beta), {"1200000.00", "1300000.00", "Alpha Sealed"}),
        "seller": (seller_client, {"1200000.00", "1250000.00", "1300000.00"}),
        "outsider": (outsider, {"1200000.00", "1250000.00", "1300000.00"}),
    }
    for who, (client, secrets) in seen.items():
        detail = client.get(auction_url(auction))
        body = detail.json()
        assert body["status"] == "cancelled", who
        assert body["bid_count"] is None, who
        assert body["current_price"] is None and body["minimum_next_bid"] is None, who
        assert body["is_leading"] is False and body["winner"] is None, who
        pages = detail.content.decode() + client.get(bid_url(auction)).content.decode()
        assert not {s for s in secrets if s in pages}, who
    assert compliance_client.get(auction_url(auction)).json()["bid_count"] == 3

    # The package goes back to the market and is auctioned again: the old bids stay sealed.
    relisted = make_auction(seller_user, auction.package, format="sealed")
    assert relisted.package_id == auction.package_id
    assert _amounts(seller_client, auction) == []
    assert _amounts(client_for(beta), auction) == ["1250000.00"]
    # The audit log keeps every bid for compliance.
    assert len(actions_of(auction, "bid.placed")) == 3
