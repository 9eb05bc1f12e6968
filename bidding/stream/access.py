"""The live stream's reads of the database: who is calling, what it may see, what it missed.

Plain synchronous Django code, which the ASGI side runs in worker threads (``sync_to_async``):
once when a client connects (``stream_open``) and once per process per change of an auction
with open streams (``stream_read``), never once per client per change. Each call opens and
closes its unit of work as a request would (``close_old_connections``), so a long-lived
process never keeps a broken or stale connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import NamedTuple, ParamSpec, TypeVar, cast

from django.db import close_old_connections
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.settings import api_settings

from bidding.models import Auction, AuctionStatus
from bidding.selectors import auction_disclosed_to, auction_visible_to
from bidding.stream.events import (
    STREAMED_ACTIONS,
    Event,
    Message,
    Terms,
    end_before,
    latest,
    messages,
)
from bidding.stream.events import timestamp as _timestamp
from marketplace.accounts.models import User
from marketplace.audit.selectors import stream_events
from marketplace.audit.services import stream_for
from marketplace.common.errors import InvalidValue, NotFound

_BIGINT_MAX = 2**63 - 1
P = ParamSpec("P")
R = TypeVar("R")


def unit_of_work(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` as a request runs: stale or broken connections closed before and after."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper


@dataclass(frozen=True)
class Batch:
    """Messages read from the stream, the last sequence read, and the auction's end after it."""

    messages: list[Message]
    head: int
    ends_at: str


class Read(NamedTuple):
    terms: Terms
    batch: Batch


@dataclass(frozen=True)
class Opened:
    """A client's stream, as decided when it connects."""

    auction_id: int
    insider: bool  # sees ``price`` messages
    terms: Terms
    batch: Batch  # what it missed (after Last-Event-ID), or the current state
    ended: bool  # it has already received the final message: nothing more will come


def _user(authorization: str) -> User:
    """The caller, authenticated by the API's own authentication classes (knox tokens)."""
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = authorization
    classes = cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    for authentication in classes:
        # DRF's authentication classes read only the request's headers (``META``).
        found = authentication().authenticate(cast(Request, request))
        if found is not None and isinstance(found[0], User):
            return found[0]
    raise NotAuthenticated()


def _terms(auction: Auction) -> Terms:
    return Terms(auction.format, auction.starting_price, auction.min_increment)


def _events(auction_id: int, *, after: int, up_to: int | None = None) -> list[Event]:
    rows = stream_events(
        stream=stream_for("auction", auction_id), actions=STREAMED_ACTIONS, after=after, up_to=up_to
    ).values_list("sequence", "action", "data")
    return [Event(*row) for row in rows]


def _end_at(auction_id: int, *, sequence: int, original_ends_at: str) -> str:
    """The auction's end as of ``sequence`` of its stream."""
    rows = stream_events(
        stream=stream_for("auction", auction_id),
        actions=["auction.extended"],
        up_to=sequence,
    ).values_list("sequence", "action", "data")
    return end_before((Event(*row) for row in rows), original_ends_at)


def _read(auction: Auction, *, after: int) -> Batch:
    original = _timestamp(auction.original_ends_at)
    ends_at = _end_at(auction.pk, sequence=after, original_ends_at=original)
    return _read_from(auction.pk, terms=_terms(auction), after=after, ends_at=ends_at)


def _read_from(auction_id: int, *, terms: Terms, after: int, ends_at: str) -> Batch:
    events = _events(auction_id, after=after)
    found, ends_at = messages(events, terms=terms, ends_at=ends_at)
    return Batch(found, events[-1].sequence if events else after, ends_at)


def _current(auction: Auction, *, insider: bool) -> Batch:
    """The auction's latest message the viewer may see: its last bid (with the extension of
    the same transaction) or its close. Reads only the stream's last two streamed events."""
    last_two = list(
        stream_events(stream=stream_for("auction", auction.pk), actions=STREAMED_ACTIONS)
        .order_by("-sequence")
        .values_list("sequence", flat=True)[:2]
    )
    after = min(last_two) - 1 if last_two else 0
    batch = _read(auction, after=after)
    return Batch(latest(batch.messages, insider=insider), batch.head, batch.ends_at)


def last_event_id(value: str | None) -> int | None:
    """The ``Last-Event-ID`` header: an id this stream gave, or none."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or int(text) > _BIGINT_MAX:
        raise InvalidValue(
            "Last-Event-ID must be an event id of this stream.",
            errors={"Last-Event-ID": ["Not an event id."]},
        )
    return int(text)


@unit_of_work
def stream_open(*, authorization: str, auction_id: int, last_seen: int | None) -> Opened:
    """Authenticate the caller (401), find the auction among those it may see (404), decide
    whether it sees prices, and read what it missed since ``last_seen`` (every message it may
    see, in order), or, without ``last_seen``, the auction's current state."""
    user = _user(authorization)
    if not 0 < auction_id <= _BIGINT_MAX:
        raise NotFound("No such auction.")
    auction = auction_visible_to(user=user).filter(pk=auction_id).first()
    if auction is None:
        raise NotFound("No such auction.")
    insider = auction_disclosed_to(user=user, auction=auction).price
    if last_seen is None:
        batch = _current(auction, insider=insider)
    else:
        batch = _read(auction, after=last_seen)
    ended = (
        last_seen is not None
        and auction.status in (AuctionStatus.CLOSED, AuctionStatus.CANCELLED)
        and not batch.messages
    )
    return Opened(auction.pk, insider, _terms(auction), batch, ended)


@unit_of_work
def stream_read(auction_id: int, *, after: int, known: tuple[Terms, str] | None = None) -> Read:
    """Every message of the auction after sequence ``after``, for a process's feed or a client
    that fell behind it. ``known``: the auction's terms and its end as of ``after``, which a
    feed keeps from its previous read; then this is one query."""
    if known is not None:
        terms, ends_at = known
        return Read(terms, _read_from(auction_id, terms=terms, after=after, ends_at=ends_at))
    auction = Auction.objects.get(pk=auction_id)
    return Read(_terms(auction), _read(auction, after=after))
