"""``bidding.rules`` as pure functions: plain values in, values out, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from bidding import rules
from bidding.rules import BidScope, Viewer

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SELLER, ALPHA, BETA, PLATFORM = 10, 20, 30, 1


@dataclass(frozen=True)
class A:
    """An auction's facts, as the rules read them."""

    format: str = "english"
    status: str = "open"
    starting_price: Decimal = Decimal("1000.00")
    min_increment: Decimal = Decimal("10.00")
    current_price: Decimal | None = None
    reserve_price: Decimal | None = None
    leading_buyer_id: int | None = None
    winner_id: int | None = None
    ends_at: dt.datetime = T0
    soft_close_seconds: int = 300
    extension_seconds: int = 300


@dataclass(frozen=True)
class B:
    amount: Decimal
    sequence: int
    buyer_id: int = ALPHA


def d(value: str) -> Decimal:
    return Decimal(value)


# --------------------------------------------------------------------------- minimum bid


@pytest.mark.parametrize(
    ("auction", "minimum"),
    [
        (A(), "1000.00"),  # English, first bid: the starting price
        (A(current_price=d("1200.00")), "1210.00"),  # then the price plus the increment
        (A(format="sealed"), "1000.00"),
        (A(format="sealed", current_price=d("5000.00")), "1000.00"),  # sealed: always the start
    ],
    ids=["english_first", "english_next", "sealed", "sealed_ignores_any_price"],
)
def test_minimum_bid(auction, minimum):
    assert rules.minimum_bid(auction) == d(minimum)


def test_the_english_leader_may_not_rebid_but_a_sealed_bidder_may():
    assert rules.rebids_own_lead(A(leading_buyer_id=ALPHA), buyer_id=ALPHA)
    assert not rules.rebids_own_lead(A(leading_buyer_id=ALPHA), buyer_id=BETA)
    assert not rules.rebids_own_lead(A(leading_buyer_id=None), buyer_id=ALPHA)
    assert not rules.rebids_own_lead(A(format="sealed", leading_buyer_id=ALPHA), buyer_id=ALPHA)


# --------------------------------------------------------------------------- who leads, who wins


def test_the_highest_amount_leads_and_a_tie_stays_with_the_earlier_bid():
    assert rules.takes_lead(amount=d("1"), leading_amount=None)
    assert rules.takes_lead(amount=d("1001"), leading_amount=d("1000"))
    assert not rules.takes_lead(amount=d("1000"), leading_amount=d("1000"))
    assert not rules.takes_lead(amount=d("999"), leading_amount=d("1000"))


def test_leader_is_the_highest_ties_to_the_earliest_in_any_order():
    bids = [B(d("100"), 1), B(d("300"), 2, BETA), B(d("200"), 3), B(d("300"), 4)]

    assert rules.leader(bids) == bids[1]
    assert rules.leader(list(reversed(bids))) == bids[1]  # by sequence, not by list order
    assert rules.leader([]) is None


@pytest.mark.parametrize(
    ("reserve", "wins"),
    [(None, True), ("299.99", True), ("300.00", True), ("300.01", False)],
)
def test_award_is_the_leader_when_it_meets_the_reserve(reserve, wins):
    bids = [B(d("100"), 1), B(d("300"), 2, BETA)]

    winner = rules.award(bids, reserve_price=None if reserve is None else d(reserve))

    assert winner == (bids[1] if wins else None)
    assert rules.award([], reserve_price=None) is None  # no bid: no sale


def test_meets_reserve():
    assert rules.meets_reserve(d("10"), None)
    assert rules.meets_reserve(d("10"), d("10"))
    assert not rules.meets_reserve(d("9.99"), d("10"))
    assert not rules.meets_reserve(None, None)  # no bid meets no reserve


# --------------------------------------------------------------------------- soft close


def test_an_english_bid_inside_the_window_extends_to_placed_at_plus_extension():
    auction = A(ends_at=T0)

    # At the window's edge: placed_at + 300 s is the end itself, so the end does not move.
    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=300)) is None
    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=299)) == (
        T0 + dt.timedelta(seconds=1)
    )
    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=1)) == (
        T0 + dt.timedelta(seconds=299)
    )


def test_an_english_bid_outside_the_window_or_with_soft_close_off_leaves_the_end():
    assert rules.extended_end(A(ends_at=T0), placed_at=T0 - dt.timedelta(seconds=301)) is None
    assert (
        rules.extended_end(A(ends_at=T0, soft_close_seconds=0), placed_at=T0 - dt.timedelta(1))
        is None
    )


def test_an_extension_never_moves_the_end_earlier():
    auction = A(ends_at=T0, soft_close_seconds=600, extension_seconds=60)

    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=300)) is None
    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=60)) is None
    assert rules.extended_end(auction, placed_at=T0 - dt.timedelta(seconds=59)) == (
        T0 + dt.timedelta(seconds=1)
    )


# --------------------------------------------------------------------------- who sees what

SELLER_VIEW = Viewer(organization_id=SELLER, seller=True)
PLATFORM_VIEW = Viewer(organization_id=PLATFORM, platform=True)
ALPHA_VIEW = Viewer(organization_id=ALPHA, registered=True)
OUTSIDER_VIEW = Viewer(organization_id=99)


def test_aliases_follow_the_order_of_first_bid():
    assert rules.aliases([BETA, ALPHA, BETA, 40, ALPHA]) == {
        BETA: "Bidder 1",
        ALPHA: "Bidder 2",
        40: "Bidder 3",
    }


def test_english_bids_are_listed_to_insiders_all_of_them_names_only_to_seller_and_platform():
    auction = A(status="open")
    for viewer in (SELLER_VIEW, PLATFORM_VIEW, ALPHA_VIEW):
        assert rules.may_list_bids(viewer, auction)
        assert rules.bid_scope(viewer, auction) is BidScope.ALL
    assert not rules.may_list_bids(OUTSIDER_VIEW, auction)
    assert not rules.may_list_bids(OUTSIDER_VIEW, replace(auction, status="closed"))
    assert rules.shows_bidder_names(SELLER_VIEW) and rules.shows_bidder_names(PLATFORM_VIEW)
    assert not rules.shows_bidder_names(ALPHA_VIEW)


def test_sealed_bids_before_close_a_buyer_its_own_the_seller_none_the_platform_all():
    auction = A(format="sealed", status="open")

    assert rules.bid_scope(ALPHA_VIEW, auction) is BidScope.OWN
    assert rules.bid_scope(SELLER_VIEW, auction) is BidScope.NONE
    assert rules.bid_scope(PLATFORM_VIEW, auction) is BidScope.ALL
    assert rules.shows_bid(ALPHA_VIEW, BidScope.OWN, buyer_id=ALPHA)
    assert not rules.shows_bid(ALPHA_VIEW, BidScope.OWN, buyer_id=BETA)
    assert not rules.shows_bid(SELLER_VIEW, BidScope.NONE, buyer_id=ALPHA)
    assert not rules.may_list_bids(OUTSIDER_VIEW, auction)


def test_sealed_bids_after_close_everyone_who_may_see_the_auction_sees_all():
    auction = A(format="sealed", status="closed")

    for viewer in (SELLER_VIEW, PLATFORM_VIEW, ALPHA_VIEW, OUTSIDER_VIEW):
        assert rules.may_list_bids(viewer, auction)
        assert rules.bid_scope(viewer, auction) is BidScope.ALL


def test_disclosure_of_an_english_auction():
    auction = A(current_price=d("1000.00"), leading_buyer_id=ALPHA)

    seller, platform = (
        rules.disclosure(SELLER_VIEW, auction),
        rules.disclosure(PLATFORM_VIEW, auction),
    )
    alpha, outsider = (
        rules.disclosure(ALPHA_VIEW, auction),
        rules.disclosure(OUTSIDER_VIEW, auction),
    )

    assert seller.reserve_price and platform.reserve_price
    assert not alpha.reserve_price and not outsider.reserve_price
    for shown in (seller, platform, alpha):
        assert shown.terms and shown.price and shown.minimum_next_bid
    assert not (outsider.terms or outsider.price or outsider.minimum_next_bid)
    assert alpha.is_leading and not seller.is_leading and not outsider.is_leading
    assert all(s.bid_count for s in (seller, platform, alpha, outsider))
    assert not any(s.winner for s in (seller, platform, alpha, outsider))  # still open


def test_the_winner_is_disclosed_after_close_to_seller_platform_and_winner_only():
    auction = A(status="closed", winner_id=ALPHA, leading_buyer_id=ALPHA)
    beta = Viewer(organization_id=BETA, registered=True)

    assert rules.disclosure(SELLER_VIEW, auction).winner
    assert rules.disclosure(PLATFORM_VIEW, auction).winner
    assert rules.disclosure(ALPHA_VIEW, auction).winner
    assert not rules.disclosure(beta, auction).winner
    assert not rules.disclosure(OUTSIDER_VIEW, auction).winner
    assert not rules.disclosure(ALPHA_VIEW, auction).minimum_next_bid  # no more bids


def test_a_sealed_leader_is_not_told_it_leads_before_close():
    auction = A(format="sealed", leading_buyer_id=ALPHA)

    assert not rules.disclosure(ALPHA_VIEW, auction).is_leading
    assert not rules.disclosure(ALPHA_VIEW, auction).price  # a sealed auction shows no price
    assert rules.disclosure(ALPHA_VIEW, replace(auction, status="closed")).is_leading


# --------------------------------------------------------------------------- sealed stays sealed


def test_a_sealed_auction_is_never_extended():
    auction = A(format="sealed", ends_at=T0, soft_close_seconds=86_400)

    for seconds_left in (86_400, 299, 1, 0.001):
        placed_at = T0 - dt.timedelta(seconds=seconds_left)
        assert rules.extended_end(auction, placed_at=placed_at) is None
    # The same terms in English: a bid with less than the extension left moves the end.
    english = replace(auction, format="english")
    assert rules.extended_end(english, placed_at=T0 - dt.timedelta(seconds=1)) == (
        T0 + dt.timedelta(seconds=299)
    )


@pytest.mark.parametrize("status", ["scheduled", "open", "cancelled"])
def test_a_sealed_auction_not_closed_reveals_no_bid(status):
    auction = A(format="sealed", status=status, leading_buyer_id=ALPHA)

    assert not rules.bids_revealed(auction)
    assert rules.bid_scope(ALPHA_VIEW, auction) is BidScope.OWN
    assert rules.bid_scope(SELLER_VIEW, auction) is BidScope.NONE
    assert rules.bid_scope(PLATFORM_VIEW, auction) is BidScope.ALL
    assert not rules.may_list_bids(OUTSIDER_VIEW, auction)
    for viewer in (ALPHA_VIEW, SELLER_VIEW, OUTSIDER_VIEW):
        shown = rules.disclosure(viewer, auction)
        assert not shown.bid_count and not shown.is_leading and not shown.winner
    assert rules.disclosure(PLATFORM_VIEW, auction).bid_count


def test_a_cancelled_english_auction_keeps_showing_its_bids_to_insiders():
    auction = A(status="cancelled")

    assert rules.bids_revealed(auction)
    for viewer in (ALPHA_VIEW, SELLER_VIEW, PLATFORM_VIEW):
        assert rules.bid_scope(viewer, auction) is BidScope.ALL
