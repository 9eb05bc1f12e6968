"""Bids per user and uploads per organisation (marketplace.common.ratelimit) on real Redis:
429 problem+json with Retry-After, nothing changed by a refused request, concurrency with real
threads, and bids that keep being accepted when Redis is down (fail open, logged)."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from bidding.models import Auction, Bid
from marketplace.common import ratelimit
from marketplace.common.ratelimit import Bucket, Rate
from tests.bidding.conftest import bid_url, make_auction, register, sent_tasks
from tests.conftest import client_for
from tests.listings.conftest import loan_rows, tape_csv, upload
from tests.support import assert_problem, make_package

__all__ = ["sent_tasks"]  # a fixture: bidding's messages recorded, not sent


def test_rate_parsing():
    assert Rate.parse("5/s") == Rate(5, 1)
    assert Rate.parse("30/10min") == Rate(30, 600)
    assert Rate.parse(" 20 / hour ") == Rate(20, 3600)
    assert Rate.parse("off") is None
    for bad in ("5", "5/fortnight", "-1/s", "5/0s", "x/s"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_the_window_slides_and_a_refund_gives_the_slot_back(db):
    bucket = Bucket(ratelimit.key("test", "slide"), Rate(2, 1))
    first = ratelimit.admit([bucket])
    assert isinstance(ratelimit.admit([bucket]), ratelimit.Admission)
    refused = ratelimit.admit([bucket])
    assert isinstance(refused, ratelimit.Refusal) and 0 < refused.wait <= 1

    assert isinstance(first, ratelimit.Admission)
    ratelimit.refund(first)
    assert isinstance(ratelimit.admit([bucket]), ratelimit.Admission)


def test_concurrent_requests_never_exceed_the_limit(db):
    """64 threads, each with its own Redis round trip, race for 10 slots: exactly 10 win."""
    bucket = Bucket(ratelimit.key("test", "race"), Rate(10, 60))
    barrier = threading.Barrier(64)
    outcomes: list[object] = []

    def take() -> None:
        barrier.wait()
        outcomes.append(ratelimit.admit([bucket]))

    threads = [threading.Thread(target=take) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    admitted = [o for o in outcomes if isinstance(o, ratelimit.Admission)]
    assert len(outcomes) == 64
    assert len(admitted) == 10


# --------------------------------------------------------------------------- bids


@pytest.fixture
def sealed(seller_user, bidder_user, compliance_user):
    auction = make_auction(seller_user, format="sealed")
    register(bidder_user, auction, confirmed_by=compliance_user)
    return auction


def test_bids_per_user_are_limited(sealed, bidder_client, settings):
    settings.BID_RATE_LIMIT = "2/min"
    amounts = ["1000000.00", "1000001.00", "1000002.00"]

    statuses = [bidder_client.post(bid_url(sealed), {"amount": a}).status_code for a in amounts]

    assert statuses == [201, 201, 429]
    refused = bidder_client.post(bid_url(sealed), {"amount": "1000003.00"})
    body = assert_problem(refused, 429, "throttled")
    assert "bids" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Bid.objects.filter(auction=sealed).count() == 2  # a refused bid changes nothing
    assert Auction.objects.get(pk=sealed.pk).bid_count == 2


def test_bids_fail_open_when_redis_is_down(sealed, bidder_client, settings, caplog):
    settings.BID_RATE_LIMIT = "1/min"
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="marketplace.common.ratelimit"):
        statuses = [
            bidder_client.post(bid_url(sealed), {"amount": f"100000{n}.00"}).status_code
            for n in range(3)
        ]

    assert statuses == [201, 201, 201]
    assert any("fail open" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_concurrent_bids_of_one_user_never_exceed_the_limit(
    seller_user, bidder_user, compliance_user, settings, sent_tasks
):
    settings.BID_RATE_LIMIT = "5/min"
    auction = make_auction(seller_user, format="sealed")
    register(bidder_user, auction, confirmed_by=compliance_user)
    client = client_for(bidder_user)
    token = client._credentials["HTTP_AUTHORIZATION"]
    barrier = threading.Barrier(24)
    statuses: list[int] = []

    def bid(n: int) -> None:
        mine = APIClient()
        mine.credentials(HTTP_AUTHORIZATION=token)
        barrier.wait()
        try:
            response = mine.post(bid_url(auction), {"amount": f"{1000000 + n}.00"}, format="json")
        finally:
            connection.close()
        statuses.append(response.status_code)

    threads = [threading.Thread(target=bid, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(set(statuses)) == [201, 429]
    assert statuses.count(201) == 5
    assert Bid.objects.filter(auction=auction).count() == 5
    assert max(Bid.objects.values_list("amount", flat=True)) >= Decimal("1000000.00")


# --------------------------------------------------------------------------- uploads


def test_uploads_per_organisation_are_limited(seller_user, seller_client, tape_storage, settings):
    settings.UPLOAD_RATE_LIMIT = "2/hour"
    package = make_package(seller_user)
    tape = tape_csv(loan_rows(2))

    statuses = [upload(seller_client, package.pk, tape).status_code for _ in range(3)]

    assert statuses == [202, 202, 429]
    refused = upload(seller_client, package.pk, tape)
    assert_problem(refused, 429, "throttled")
    assert 3500 <= int(refused["Retry-After"]) <= 3600
    assert package.tape_imports.count() == 2


def test_a_throttled_bid_is_not_replayed_to_its_retry(sealed, bidder_client, settings):
    """Idempotency-Key: a 429 is not stored, so the retry after Retry-After runs."""
    settings.BID_RATE_LIMIT = "1/min"
    assert bidder_client.post(bid_url(sealed), {"amount": "1000000.00"}).status_code == 201
    headers = {"HTTP_IDEMPOTENCY_KEY": "bid-retry-1"}

    refused = bidder_client.post(bid_url(sealed), {"amount": "1000001.00"}, **headers)
    assert_problem(refused, 429, "throttled")

    settings.BID_RATE_LIMIT = "10/min"  # as if the window had passed
    retried = bidder_client.post(bid_url(sealed), {"amount": "1000001.00"}, **headers)
    assert retried.status_code == 201, retried.content
    replayed = bidder_client.post(bid_url(sealed), {"amount": "1000001.00"}, **headers)
    assert replayed.status_code == 201 and replayed["Idempotent-Replayed"] == "true"
    assert Bid.objects.filter(auction=sealed).count() == 2
