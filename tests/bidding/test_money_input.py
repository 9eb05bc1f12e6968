"""Amounts in requests are decimal strings only (API.md, Conventions; issue 11, item 10): a JSON
number was accepted and rounded (``1234567890123456.78`` became ...456.80 once the parser had
made it a float). Every money input answers 400 invalid_value to anything but a string, and
changes nothing."""

from __future__ import annotations

import json

import pytest

from bidding.models import Auction
from tests.bidding.conftest import bid_url, bidding_state
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db

# Raw JSON: written as a Python float these would be rounded before the request is even sent.
NOT_STRINGS = ["1234567890123456.78", "5000.1e0", "1000000", "1000000.00", "true", "[]", "{}"]


def post_raw(client, path: str, body: str):
    return client.post(path, body, content_type="application/json")


@pytest.mark.parametrize("amount", NOT_STRINGS)
def test_a_bid_amount_that_is_not_a_string_is_400_and_places_nothing(
    english_auction, registered_bidder, amount
):
    client = client_for(registered_bidder(english_auction))
    before = bidding_state(english_auction)

    response = post_raw(client, bid_url(english_auction), f'{{"amount": {amount}}}')

    body = assert_problem(response, 400, "invalid_value", with_errors=True)
    assert "decimal string" in body["errors"]["amount"][0]
    assert bidding_state(english_auction) == before


def test_the_same_amount_as_a_string_is_placed(english_auction, registered_bidder):
    client = client_for(registered_bidder(english_auction))

    response = post_raw(client, bid_url(english_auction), '{"amount": "1000000.00"}')

    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "1000000.00"


@pytest.mark.parametrize(
    "field", ["starting_price", "min_increment", "reserve_price", "deposit_amount"]
)
def test_auction_terms_as_json_numbers_are_400(seller_client, approved_package, field):
    terms = {
        "package": approved_package.pk,
        "format": "english",
        "starts_at": "2030-01-01T09:00:00Z",
        "ends_at": "2030-01-02T09:00:00Z",
        "starting_price": "1000000.00",
        "min_increment": "10000.00",
        "reserve_price": "1100000.00",
        "deposit_amount": "50000.00",
    }
    as_string = json.dumps({field: terms[field]})[1:-1]
    raw = json.dumps(terms).replace(as_string, f'"{field}": 5000.1e0')

    response = post_raw(seller_client, "/api/v1/auctions/", raw)

    body = assert_problem(response, 400, "invalid_value", with_errors=True)
    assert set(body["errors"]) == {field}
    assert not Auction.objects.filter(package=approved_package).exists()
