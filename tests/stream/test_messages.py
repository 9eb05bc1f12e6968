"""The stream's messages as made from audit events (pure), what gunicorn answers on the path,
and the publish after commit."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from unittest import mock

import pytest
from django.db import OperationalError

from bidding.stream import app, publish
from bidding.stream.access import Batch, Opened
from bidding.stream.app import _gone
from bidding.stream.events import Event, Message, Terms, end_before, latest, messages
from bidding.stream.hub import RECENT, Feed
from tests.bidding.conftest import make_auction, post_bid, register
from tests.support import assert_problem, client_for

ENGLISH = Terms("english", Decimal("100.00"), Decimal("5.00"))
SEALED = Terms("sealed", Decimal("100.00"), Decimal("5.00"))
END = "2030-01-01T12:00:00+00:00"
LATER = "2030-01-01T12:05:00+00:00"


def bid(sequence: int, bid_id: int, amount: str, count: int) -> Event:
    return Event(sequence, "bid.placed", {"bid_id": bid_id, "amount": amount, "sequence": count})


def test_price_message_has_the_english_price_minimum_count_and_end():
    found, ends_at = messages([bid(7, 70, "120.00", 3)], terms=ENGLISH, ends_at=END)

    assert ends_at == END
    assert [m.sequence for m in found] == [7]
    assert found[0].insider == (
        b"id: 7\nevent: price\ndata: "
        b'{"bid_count":3,"current_price":"120.00","ends_at":"2030-01-01T12:00:00Z",'
        b'"minimum_next_bid":"125.00"}\n\n'
    )
    assert found[0].public is None  # only those who see the price get it


def test_a_bid_that_extends_carries_the_new_end_and_the_extension_follows():
    events = [
        bid(4, 40, "100.00", 1),
        Event(5, "auction.extended", {"from": END, "to": LATER, "bid_id": 40}),
    ]
    found, ends_at = messages(events, terms=ENGLISH, ends_at=END)

    assert ends_at == LATER
    assert b'"ends_at":"2030-01-01T12:05:00Z"' in (found[0].insider or b"")
    assert (
        found[1].public
        == found[1].insider
        == (b'id: 5\nevent: extended\ndata: {"ends_at":"2030-01-01T12:05:00Z"}\n\n')
    )


def test_sealed_bids_make_no_message_for_anyone_and_the_close_ends_the_stream():
    events = [bid(3, 30, "150.00", 1), Event(4, "auction.closed", {"outcome": "awarded"})]
    found, _ = messages(events, terms=SEALED, ends_at=END)

    assert (found[0].insider, found[0].public) == (None, None)
    assert found[1].final
    assert (
        found[1].public
        == b'id: 4\nevent: closed\ndata: {"outcome":"awarded","status":"closed"}\n\n'
    )
    assert b"150" not in b"".join(m.insider or b"" for m in found)


def test_the_end_before_a_point_is_the_last_extension_or_the_original_end():
    extension = Event(5, "auction.extended", {"to": LATER, "bid_id": 1})
    assert end_before([], END) == END
    assert end_before([extension], END) == LATER


def test_a_new_client_starts_with_the_latest_message_it_may_see():
    found, _ = messages(
        [bid(1, 10, "100.00", 1), bid(2, 20, "105.00", 2)], terms=ENGLISH, ends_at=END
    )
    assert [m.sequence for m in latest(found, insider=True)] == [2]
    assert latest(found, insider=False) == []


# ------------------------------------------------------------------- the feed, a gone client


def test_a_client_behind_the_feeds_memory_is_told_to_read_the_database():
    feed = Feed(Opened(1, True, ENGLISH, Batch([], 10, END), False))
    feed.add(Batch([Message(s, b"x", None) for s in range(11, 12 + RECENT)], 11 + RECENT, END))

    assert feed.head == 11 + RECENT
    assert feed.since(10) is None  # message 11 has left: a gap, never silently skipped
    assert [m.sequence for m in feed.since(9 + RECENT) or []] == [10 + RECENT, 11 + RECENT]
    assert feed.since(11 + RECENT) == []


def test_a_gone_client_is_noticed_and_a_connected_one_is_not():
    async def disconnected():
        return {"type": "http.disconnect"}

    async def connected():
        await asyncio.Event().wait()

    assert asyncio.run(_gone(disconnected)) is True
    assert asyncio.run(_gone(connected)) is False


def test_a_database_failure_on_connect_is_a_503_problem(monkeypatch):
    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(app, "stream_open", database_down)
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "headers": [(b"authorization", b"Token x")]}
    asyncio.run(app.stream(scope, receive, send, auction_id=1))

    assert sent[0]["status"] == 503
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["code"] == "service_unavailable"


# --------------------------------------------------------------------------- gunicorn's answer


@pytest.mark.django_db
def test_the_sync_web_server_points_to_the_stream_server(
    settings, seller_user, compliance_user, bidder_client, api
):
    settings.STREAM_URL = "http://stream.example"
    auction = make_auction(seller_user)
    url = f"/api/v1/auctions/{auction.pk}/stream/"

    body = assert_problem(bidder_client.get(url), 421, "stream_not_served_here")
    assert body["stream_url"] == f"http://stream.example{url}"
    assert_problem(api.get(url), 401, "not_authenticated")
    assert_problem(bidder_client.get("/api/v1/auctions/999999999/stream/"), 404, "not_found")


# --------------------------------------------------------------------------- publish


@pytest.mark.django_db
def test_a_bid_publishes_after_its_commit_and_a_refused_one_does_not(
    seller_user, compliance_user, bidder_user, django_capture_on_commit_callbacks
):
    auction = make_auction(seller_user)
    register(bidder_user, auction, confirmed_by=compliance_user)
    client = client_for(bidder_user)
    with mock.patch.object(publish, "_publish") as sent:
        with django_capture_on_commit_callbacks(execute=True):
            assert post_bid(client, auction, "900000.00").status_code == 409  # too low
        assert sent.call_count == 0
        with django_capture_on_commit_callbacks(execute=True):
            assert post_bid(client, auction, "1000000.00").status_code == 201
        assert sent.call_args_list == [mock.call(auction.pk)]


def test_a_failed_publish_is_dropped_not_raised(settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    publish._client.cache_clear()
    try:
        publish._publish(1)  # logged; the streaming processes' poll finds the change
    finally:
        publish._client.cache_clear()
