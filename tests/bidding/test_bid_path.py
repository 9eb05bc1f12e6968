"""The bid path's plain-SQL writes: the same rows and the same audit events as the ORM wrote.

``bid_place`` inserts the bid, updates the auction and the bidder's alias, and appends the
``bid.placed`` event with statements of its own (audit's fast API: ``stream_head_query`` and
``event_append``) instead of ``audit.record``. These tests hold it to what ``record``
guarantees: the same event content, one chain per stream with ``record``'s events
interleaved, and verification passing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bidding.errors import BidTooLow
from bidding.models import Auction, Bid, Registration
from bidding.services import bids
from bidding.services.bids import bid_place
from marketplace.audit.models import AuditEvent
from marketplace.audit.selectors import audit_verify
from marketplace.audit.services import event_append, hash_of, normalize_data, record
from tests.bidding.conftest import (
    INCREMENT,
    START,
    actions_of,
    assert_problem,
    bidding_state,
    make_auction,
    post_bid,
)

pytestmark = pytest.mark.django_db


def _statements(ctx: CaptureQueriesContext) -> list[str]:
    """The statements a service ran, without the savepoints of the test's transaction."""
    return [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def test_bid_events_carry_the_bid_and_chain_with_recorded_events(english_auction, english_bidders):
    alpha, beta, _ = english_bidders
    Auction.objects.filter(pk=english_auction.pk).update(
        ends_at=timezone.now() + dt.timedelta(seconds=100)  # inside the 300 s soft close
    )
    placed = []
    for n, bidder in enumerate([alpha, beta, alpha, beta]):
        placed.append(
            bid_place(actor=bidder, auction_id=english_auction.pk, amount=START + n * INCREMENT)
        )

    # Every bid extended the end, so bid.placed (plain SQL) and auction.extended (record)
    # alternate in one stream, after the events of creation and registration.
    events = actions_of(english_auction)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    tail = [e.action for e in events[-8:]]
    assert tail == ["bid.placed", "auction.extended"] * 4
    assert audit_verify(stream=f"auction:{english_auction.pk}").valid
    for event in events:
        assert hash_of(event) == event.hash

    bid_events = actions_of(english_auction, "bid.placed")
    for event, bid, bidder in zip(bid_events, placed, [alpha, beta, alpha, beta], strict=True):
        stored = Bid.objects.get(pk=bid.pk)
        assert (stored.sequence, stored.amount, stored.placed_at) == (
            bid.sequence,
            bid.amount,
            bid.placed_at,
        )
        assert event.data == {
            "bid_id": bid.pk,
            "sequence": bid.sequence,
            "amount": str(bid.amount),
            "placed_at": bid.placed_at.isoformat(),
        }
        assert (event.object_type, event.object_id) == ("auction", str(english_auction.pk))
        assert (event.actor_user_id, event.actor_username) == (bidder.pk, bidder.username)
        assert (event.actor_organization_id, event.actor_organization_name) == (
            bidder.organization_id,
            bidder.organization.name,
        )

    english_auction.refresh_from_db()
    assert english_auction.bid_count == 4
    assert english_auction.current_price == START + 3 * INCREMENT
    assert english_auction.leading_bid_id == placed[-1].pk
    assert english_auction.leading_buyer_id == beta.organization_id
    assert english_auction.ends_at == placed[-1].placed_at + dt.timedelta(seconds=300)
    aliases = dict(
        Registration.objects.filter(auction=english_auction).values_list("buyer_id", "alias_number")
    )
    assert aliases == {
        alpha.organization_id: 1,
        beta.organization_id: 2,
        english_bidders[2].organization_id: None,  # never bid
    }


def test_a_prepared_event_inserted_with_plain_sql_is_what_record_writes(bidder_user):
    data = {
        "amount": Decimal("1234.50"),
        "at": dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC),
        "name": "Ünïcode AMC",
        "ids": (3, 1, 2),
    }
    with transaction.atomic():
        first = record(action="x.one", object_type="x", object_id=7, actor=bidder_user, data=data)
        append = event_append(
            stream="x:7",
            head=(first.sequence, first.hash),
            action="x.two",
            object_type="x",
            object_id=7,
            actor=bidder_user,
            data=data,
        )
        prepared = append.event
        with connection.cursor() as cursor:
            cursor.execute(append.sql, append.params)
        third = record(action="x.three", object_type="x", object_id=7, data=data)

    stored = list(AuditEvent.objects.filter(stream="x:7").order_by("sequence"))
    assert [e.action for e in stored] == ["x.one", "x.two", "x.three"]
    one, two, three = stored
    assert (two.sequence, two.prev_hash, two.hash) == (2, one.hash, prepared.hash)
    assert three.prev_hash == two.hash == hash_of(two) and third.sequence == 3
    fields = ["actor_user_id", "actor_username", "actor_organization_id"]
    fields += ["actor_organization_name", "object_type", "object_id", "data"]
    assert {f: getattr(two, f) for f in fields} == {f: getattr(one, f) for f in fields}
    assert two.data == normalize_data(data)
    assert audit_verify(stream="x:7").valid


def test_an_accepted_bid_is_three_statements_and_a_refusal_one(english_auction, english_bidders):
    alpha, beta, _ = english_bidders
    with CaptureQueriesContext(connection) as first:  # alpha's first bid also sets its alias
        bid_place(actor=alpha, auction_id=english_auction.pk, amount=START)
    with CaptureQueriesContext(connection) as second:
        bid_place(actor=beta, auction_id=english_auction.pk, amount=START + INCREMENT)
    with CaptureQueriesContext(connection) as again:
        bid_place(actor=alpha, auction_id=english_auction.pk, amount=START + 2 * INCREMENT)
    before = bidding_state(english_auction)
    with CaptureQueriesContext(connection) as low, pytest.raises(BidTooLow):
        bid_place(actor=beta, auction_id=english_auction.pk, amount=START)

    # the unlocked read; the lock with the audit head; bid, auction (and alias) and the event
    assert len(_statements(first)) == len(_statements(second)) == len(_statements(again)) == 3
    assert "alias_number = 1 +" in _statements(first)[2]
    assert "alias_number = 1 +" not in _statements(again)[2]
    assert len(_statements(low)) == 1  # refused from the unlocked read, no lock taken
    assert bidding_state(english_auction) == before


def test_an_accepted_bid_over_http_adds_one_query_for_the_token(
    english_auction, english_bidders, clients
):
    alpha = english_bidders[0]
    client = clients(alpha)
    with CaptureQueriesContext(connection) as ctx:
        response = post_bid(client, english_auction, str(START))

    assert response.status_code == 201, response.content
    statements = _statements(ctx)
    # the token with its user and organisation in one query, then the bid's three statements
    assert len(statements) == 4 and "knox_authtoken" in statements[0]
    assert response.json() == {
        "id": response.json()["id"],
        "auction": english_auction.pk,
        "amount": "1000000.00",
        "placed_at": response.json()["placed_at"],
        "sequence": 1,
    }
    bid = Bid.objects.get(pk=response.json()["id"])
    assert bid.placed_by_id == alpha.pk and bid.buyer_id == alpha.organization_id


def test_sealed_leader_is_the_highest_bid_ties_to_the_earliest(sealed_auction, registered_bidder):
    alpha = registered_bidder(sealed_auction)
    beta = registered_bidder(sealed_auction)
    first = bid_place(actor=alpha, auction_id=sealed_auction.pk, amount=START)
    high = bid_place(actor=beta, auction_id=sealed_auction.pk, amount=START + 2)
    bid_place(actor=alpha, auction_id=sealed_auction.pk, amount=START + 1)
    bid_place(actor=alpha, auction_id=sealed_auction.pk, amount=START + 2)  # a tie

    sealed_auction.refresh_from_db()
    assert first.sequence == 1 and sealed_auction.bid_count == 4
    assert sealed_auction.leading_bid_id == high.pk
    assert sealed_auction.leading_buyer_id == beta.organization_id
    assert sealed_auction.current_price is None  # a sealed auction shows no price
    assert not Registration.objects.filter(
        auction=sealed_auction, alias_number__isnull=False
    ).exists()
    assert audit_verify(stream=f"auction:{sealed_auction.pk}").valid


@pytest.mark.parametrize("auction_id", ["0", "-1", "99999999999999999999"])
def test_a_bid_on_an_impossible_auction_id_is_404(bidder_client, auction_id):
    response = bidder_client.post(
        f"/api/v1/auctions/{auction_id}/bids/", {"amount": "1000.00"}, format="json"
    )
    assert_problem(response, 404, "not_found")


def test_the_first_bid_on_a_due_scheduled_auction_opens_it_and_chains(
    seller_user, registered_bidder, bidder_user
):
    auction = make_auction(
        seller_user, starts_in=dt.timedelta(hours=1), ends_in=dt.timedelta(hours=2)
    )
    bidder = registered_bidder(auction)
    Auction.objects.filter(pk=auction.pk).update(starts_at=timezone.now() - dt.timedelta(1))

    bid = bid_place(actor=bidder, auction_id=auction.pk, amount=START)

    auction.refresh_from_db()
    assert auction.status == "open" and auction.leading_bid_id == bid.pk
    assert [e.action for e in actions_of(auction)[-2:]] == ["auction.opened", "bid.placed"]
    assert audit_verify(stream=f"auction:{auction.pk}").valid


def test_a_refused_bid_over_http_leaves_everything(english_auction, english_bidders, clients):
    alpha = english_bidders[0]
    assert post_bid(clients(alpha), english_auction, str(START)).status_code == 201
    before = bidding_state(english_auction)

    response = post_bid(clients(alpha), english_auction, str(START + INCREMENT))

    assert_problem(response, 409, "already_leading")
    assert bidding_state(english_auction) == before


def test_without_client_side_binding_the_lock_and_head_go_one_by_one(
    english_auction, english_bidders, monkeypatch
):
    """Server-side binding (``OPTIONS: {"server_side_binding": True}``) allows one statement
    per message: the lock and the head read are then sent one after the other."""

    class NoClientCursor:
        pass

    monkeypatch.setattr(bids.psycopg, "ClientCursor", NoClientCursor)
    alpha, beta, _ = english_bidders
    bid_place(actor=alpha, auction_id=english_auction.pk, amount=START)
    with CaptureQueriesContext(connection) as ctx:
        bid = bid_place(actor=beta, auction_id=english_auction.pk, amount=START + INCREMENT)

    assert len(_statements(ctx)) == 4
    english_auction.refresh_from_db()
    assert english_auction.leading_bid_id == bid.pk and english_auction.bid_count == 2
    assert [e.data["sequence"] for e in actions_of(english_auction, "bid.placed")] == [1, 2]
    assert audit_verify(stream=f"auction:{english_auction.pk}").valid
