"""The live stream's messages, made from the auction's audit events: pure functions, no I/O.

The auction's audit stream (``auction:<id>``) is the source of truth: its events commit with
the change they describe and are numbered 1, 2, 3 ... without gaps, so an event's sequence is
the message's ``id:`` and ``Last-Event-ID`` resumes exactly after it. Three actions make
messages (API.md "Live stream"):

- ``bid.placed`` -> ``price`` ``{current_price, minimum_next_bid, bid_count, ends_at}``, English
  only, to the viewers who see the price (``rules.disclosure``: registered buyers, the seller,
  the platform); a sealed auction's bids make no message at all, before or after its close;
- ``auction.extended`` -> ``extended`` ``{ends_at}``, to everyone who may see the auction;
- ``auction.closed`` / ``auction.cancelled`` -> ``closed`` ``{outcome, status}``, to everyone;
  the stream ends after it.

Each message is rendered once, as the bytes each audience receives, and shared by every client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from bidding import rules
from bidding.codes import AuditAction
from bidding.models import AuctionFormat, AuctionStatus

STREAMED_ACTIONS = (
    AuditAction.BID_PLACED,
    AuditAction.AUCTION_EXTENDED,
    AuditAction.AUCTION_CLOSED,
    AuditAction.AUCTION_CANCELLED,
)
HEARTBEAT = b": keep-alive\n\n"


class Event(NamedTuple):
    """An audit event of the auction's stream, as far as the stream reads it."""

    sequence: int
    action: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Terms:
    """The auction's terms that messages depend on (``rules.Pricing``)."""

    format: str
    starting_price: Decimal
    min_increment: Decimal
    current_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One event as each audience receives it: ``insider`` for viewers who see the price,
    ``public`` for the others; None where that audience gets nothing."""

    sequence: int
    insider: bytes | None
    public: bytes | None
    final: bool = False

    def for_viewer(self, *, insider: bool) -> bytes | None:
        return self.insider if insider else self.public


def render(sequence: int, name: str, data: dict[str, Any]) -> bytes:
    body = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return f"id: {sequence}\nevent: {name}\ndata: {body}\n\n".encode()


def timestamp(value: str | dt.datetime) -> str:
    """An audit timestamp in the API's form (ISO 8601, UTC, ``Z``)."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _extension_by(events: Sequence[Event], index: int, bid_id: Any) -> str | None:
    """The new end set by the bid at ``index``: its extension is the next event of the same
    transaction (``bid_place`` records it right after the bid), so it is in the same batch."""
    if index + 1 < len(events):
        following = events[index + 1]
        extends = following.action == AuditAction.AUCTION_EXTENDED
        if extends and following.data.get("bid_id") == bid_id:
            return str(following.data["to"])
    return None


def _price(event: Event, terms: Terms, ends_at: str) -> Message:
    if terms.format != AuctionFormat.ENGLISH:
        return Message(event.sequence, None, None)  # sealed: bids stay secret, even after close
    amount = Decimal(str(event.data["amount"]))
    minimum = rules.minimum_bid(
        Terms(terms.format, terms.starting_price, terms.min_increment, current_price=amount)
    )
    data = {
        "current_price": str(amount),
        "minimum_next_bid": str(minimum),
        "bid_count": event.data["sequence"],
        "ends_at": timestamp(ends_at),
    }
    return Message(event.sequence, render(event.sequence, "price", data), None)


def _closed(event: Event) -> Message:
    cancelled = event.action == AuditAction.AUCTION_CANCELLED
    data = {
        "outcome": None if cancelled else event.data.get("outcome"),
        "status": AuctionStatus.CANCELLED if cancelled else AuctionStatus.CLOSED,
    }
    body = render(event.sequence, "closed", data)
    return Message(event.sequence, body, body, final=True)


def messages(events: Sequence[Event], *, terms: Terms, ends_at: str) -> tuple[list[Message], str]:
    """The messages of ``events`` (in sequence order), and the auction's end after them.
    ``ends_at`` is the end before the first of them (``end_before``)."""
    out: list[Message] = []
    for index, event in enumerate(events):
        if event.action == AuditAction.BID_PLACED:
            new_end = _extension_by(events, index, event.data.get("bid_id"))
            out.append(_price(event, terms, new_end or ends_at))
        elif event.action == AuditAction.AUCTION_EXTENDED:
            ends_at = str(event.data["to"])
            body = render(event.sequence, "extended", {"ends_at": timestamp(ends_at)})
            out.append(Message(event.sequence, body, body))
        elif event.action in (AuditAction.AUCTION_CLOSED, AuditAction.AUCTION_CANCELLED):
            out.append(_closed(event))
    return out, ends_at


def end_before(extensions: Iterable[Event], original_ends_at: str) -> str:
    """The auction's end as of a point of its stream: the last extension's new end before that
    point (``extensions`` in sequence order), else the end its terms set."""
    ends_at = original_ends_at
    for event in extensions:
        ends_at = str(event.data["to"])
    return ends_at


def latest(found: Sequence[Message], *, insider: bool) -> list[Message]:
    """What a client that gives no ``Last-Event-ID`` starts with: the latest message it may
    see (the auction's current state), if any."""
    for message in reversed(found):
        if message.for_viewer(insider=insider) is not None:
            return [message]
    return []
