"""The rules of bidding, as pure functions (API.md "Auctions and registrations" and "Bids").

Plain values in, values out: no database, no clock, no request. Each rule has this one
definition, which the bid path (``bidding.services.bids``), the close
(``bidding.services.closing``), the selectors and the tests all call:

- the minimum next bid (``minimum_bid``) and the leader's own re-bid (``rebids_own_lead``);
- who leads (``takes_lead``, ``leader``) and who wins at close (``meets_reserve``, ``award``);
- whether and how far a bid extends the end (``extended_end``: English only);
- what a caller may see of an auction and its bids (``Viewer``, ``disclosure``,
  ``may_list_bids``, ``bid_scope``, ``shows_bid``, ``aliases``).

The arguments are protocols of read-only attributes, so an ``Auction`` or ``Bid`` row, the bid
path's plain-SQL reads and a test's dataclass all fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol, TypeVar

from bidding.models import ACTIVE_STATUSES, AuctionFormat, AuctionStatus

# --------------------------------------------------------------------------- what rules read


class Formatted(Protocol):
    @property
    def format(self) -> str: ...


class Pricing(Formatted, Protocol):
    """What the minimum bid depends on."""

    @property
    def starting_price(self) -> Decimal: ...
    @property
    def min_increment(self) -> Decimal: ...
    @property
    def current_price(self) -> Decimal | None: ...


class Leading(Formatted, Protocol):
    @property
    def leading_buyer_id(self) -> int | None: ...


class SoftClose(Formatted, Protocol):
    @property
    def ends_at(self) -> dt.datetime: ...
    @property
    def soft_close_seconds(self) -> int: ...
    @property
    def extension_seconds(self) -> int: ...


class Shown(Leading, Protocol):
    """An auction, as far as what a caller may see of it goes."""

    @property
    def status(self) -> str: ...
    @property
    def winner_id(self) -> int | None: ...


class Ranked(Protocol):
    """A bid, as far as ranking goes."""

    @property
    def amount(self) -> Decimal: ...
    @property
    def sequence(self) -> int: ...


BidT = TypeVar("BidT", bound=Ranked)


# --------------------------------------------------------------------------- bids


def minimum_bid(auction: Pricing) -> Decimal:
    """The lowest amount the next bid may have. English: the starting price for the first bid,
    then the current price plus the minimum increment. Sealed: the starting price, always (a
    sealed auction has no current price)."""
    if auction.format == AuctionFormat.ENGLISH and auction.current_price is not None:
        return auction.current_price + auction.min_increment
    return auction.starting_price


def rebids_own_lead(auction: Leading, *, buyer_id: int) -> bool:
    """English: the current leader may not bid again. Sealed: each buyer may bid until the end."""
    return auction.format == AuctionFormat.ENGLISH and auction.leading_buyer_id == buyer_id


def takes_lead(*, amount: Decimal, leading_amount: Decimal | None) -> bool:
    """Whether a new bid of ``amount`` leads: the highest amount leads, ties go to the earlier
    bid (``leading_amount`` is the current leader's, None before the first bid). An accepted
    English bid is above the current price, so it always leads."""
    return leading_amount is None or amount > leading_amount


def leader(bids: Iterable[BidT]) -> BidT | None:
    """The leading bid of these: the highest amount, ties to the earliest (lowest sequence)."""
    best: BidT | None = None
    for bid in sorted(bids, key=lambda b: b.sequence):
        if takes_lead(amount=bid.amount, leading_amount=None if best is None else best.amount):
            best = bid
    return best


def meets_reserve(amount: Decimal | None, reserve_price: Decimal | None) -> bool:
    """Whether a (leading) amount meets the reserve; no amount (no bid) meets none."""
    return amount is not None and (reserve_price is None or amount >= reserve_price)


def award(bids: Iterable[BidT], *, reserve_price: Decimal | None) -> BidT | None:
    """The bid that wins at close: the leader, when it meets the reserve. None: no sale."""
    best = leader(bids)
    if best is None or not meets_reserve(best.amount, reserve_price):
        return None
    return best


def extended_end(auction: SoftClose, *, placed_at: dt.datetime) -> dt.datetime | None:
    """The auction's new end when a bid placed at ``placed_at`` extends it, else None.

    English only (soft close): a bid within ``soft_close_seconds`` of the end moves the end to
    ``placed_at + extension_seconds``, never earlier; ``soft_close_seconds`` 0 never extends.
    A sealed auction's end never moves, so no bidder learns that another has bid; it closes at
    the end its terms set."""
    if auction.format != AuctionFormat.ENGLISH or not auction.soft_close_seconds:
        return None
    if auction.ends_at - placed_at > dt.timedelta(seconds=auction.soft_close_seconds):
        return None
    new_end = placed_at + dt.timedelta(seconds=auction.extension_seconds)
    return new_end if new_end > auction.ends_at else None


# --------------------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Viewer:
    """The caller, relative to one auction: its organisation and its standing there."""

    organization_id: int | None
    platform: bool = False
    seller: bool = False
    registered: bool = False

    @property
    def insider(self) -> bool:
        """Registered buyers, the seller and the platform: they see the auction's terms."""
        return self.platform or self.seller or self.registered


class BidScope(Enum):
    ALL = "all"
    OWN = "own"
    NONE = "none"


def bids_revealed(auction: Shown) -> bool:
    """Whether the auction's bids are open: English bids always are (to whoever may list them);
    a sealed auction's only once it has CLOSED: never before, and never on cancel (a cancelled
    package may be relisted, and its bids must not inform the next auction)."""
    return auction.format == AuctionFormat.ENGLISH or auction.status == AuctionStatus.CLOSED


def may_list_bids(viewer: Viewer, auction: Shown) -> bool:
    """Registered buyers, the seller and the platform list an auction's bids; once a sealed
    auction has closed, everyone who may see the auction does. Others are refused
    (``not_registered``)."""
    sealed_closed = (
        auction.format == AuctionFormat.SEALED and auction.status == AuctionStatus.CLOSED
    )
    return viewer.insider or sealed_closed


def bid_scope(viewer: Viewer, auction: Shown) -> BidScope:
    """Which bids the viewer sees. Revealed bids: all. A sealed auction not (yet) closed, which
    includes a cancelled one: a buyer its own, the seller none, the platform all (as the
    operator it sees them while the auction runs, and still does after a cancel: that reveals
    nothing it did not see before; compliance also has them in the audit log)."""
    if bids_revealed(auction):
        return BidScope.ALL
    if viewer.seller:
        return BidScope.NONE
    return BidScope.ALL if viewer.platform else BidScope.OWN


def shows_bid(viewer: Viewer, scope: BidScope, *, buyer_id: int) -> bool:
    return scope is BidScope.ALL or (scope is BidScope.OWN and buyer_id == viewer.organization_id)


def shows_bidder_names(viewer: Viewer) -> bool:
    """The seller and the platform see bidders' organisation names; buyers see aliases."""
    return viewer.platform or viewer.seller


def aliases(buyer_ids: Iterable[int]) -> dict[int, str]:
    """Stable aliases of the bidders, ``"Bidder 1"``, ``"Bidder 2"`` ... in order of first bid
    (``buyer_ids`` of the bids in sequence order)."""
    names: dict[int, str] = {}
    for buyer_id in buyer_ids:
        names.setdefault(buyer_id, f"Bidder {len(names) + 1}")
    return names


@dataclass(frozen=True)
class Disclosure:
    """Which fields of an auction a viewer sees (API.md "Auctions"); the rest are null."""

    terms: bool  # starting_price, min_increment
    reserve_price: bool  # the key itself is absent otherwise: never shown to buyers
    price: bool  # current_price and reserve_met (English only)
    minimum_next_bid: bool  # English, while bids may come
    bid_count: bool  # only where the viewer sees every bid
    winner: bool
    is_leading: bool


def disclosure(viewer: Viewer, auction: Shown) -> Disclosure:
    english = auction.format == AuctionFormat.ENGLISH
    price = english and viewer.insider
    return Disclosure(
        terms=viewer.insider,
        reserve_price=viewer.platform or viewer.seller,
        price=price,
        minimum_next_bid=price and auction.status in ACTIVE_STATUSES,
        bid_count=bid_scope(viewer, auction) is BidScope.ALL,
        winner=(
            auction.status == AuctionStatus.CLOSED
            and auction.winner_id is not None
            and (viewer.platform or viewer.seller or auction.winner_id == viewer.organization_id)
        ),
        is_leading=(
            auction.leading_buyer_id is not None
            and auction.leading_buyer_id == viewer.organization_id
            and not viewer.seller
            and bids_revealed(auction)
        ),
    )
