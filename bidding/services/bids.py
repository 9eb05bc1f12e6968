"""Placing a bid: the hottest path of the API.

Plain SQL of just the columns the rules need, so an accepted bid costs six round trips (the
token; the unlocked read; BEGIN; the row lock with the audit head; the write; COMMIT) and little
ORM work (docs/BENCHMARKS.md, "Bidding"). The rules are in ``bidding.rules``; the audit append is
``marketplace.audit``'s fast API, embedded in bidding's statements.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from bidding import rules
from bidding.codes import AuditAction
from bidding.errors import (
    AlreadyLeading,
    AuctionNotOpen,
    BidTooLow,
    BuyerNotEligible,
    DepositNotConfirmed,
    NotRegistered,
)
from bidding.models import Auction, AuctionFormat, AuctionStatus, Bid, RegistrationStatus
from bidding.services.auctions import open_if_due
from bidding.services.schedule import CLOSE_TASK, schedule
from bidding.services.trail import auction_record
from bidding.stream.publish import auction_stream_changed
from marketplace.accounts.models import Organization, User
from marketplace.audit.services import (
    StreamHead,
    event_append,
    stream_for,
    stream_head,
    stream_head_from,
    stream_head_query,
)
from marketplace.common.errors import Forbidden, InvalidValue, NotFound
from marketplace.common.money import to_money

_BIGINT_MAX = 2**63 - 1
_AMOUNT_LIMIT = Decimal("1e16")


class _Snapshot(NamedTuple):
    """The caller's registration with its auction as they are now (unlocked): one read."""

    status: str
    format: str
    starting_price: Decimal
    min_increment: Decimal
    current_price: Decimal | None
    registration_id: int | None
    registration_status: str | None
    alias_number: int | None


class _Locked(NamedTuple):
    """The auction's row as read under its lock: only what the rules need."""

    status: str
    format: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    starting_price: Decimal
    min_increment: Decimal
    current_price: Decimal | None
    leading_bid_id: int | None
    leading_buyer_id: int | None
    bid_count: int
    soft_close_seconds: int
    extension_seconds: int


class _Lock(NamedTuple):
    """What the lock's round trip returns: the row, an id for the bid, the audit stream's head."""

    auction: _Locked
    bid_id: int
    head: StreamHead | None


class _Changes(NamedTuple):
    """What an accepted bid changes, decided under the lock by the rules."""

    sequence: int
    current_price: Decimal | None  # English: the bid's amount; sealed: no price
    leads: bool
    new_end: dt.datetime | None  # a soft-close extension (English only)
    alias_registration_id: int | None  # the bidder's first English bid: give it its alias


_SNAPSHOT_SQL = """
    SELECT a.status, a.format, a.starting_price, a.min_increment, a.current_price,
           r.id, r.status, r.alias_number
    FROM bidding_auction a
    LEFT JOIN bidding_registration r ON r.auction_id = a.id AND r.buyer_id = %s
    WHERE a.id = %s
"""
_LOCK_SQL = """
    SELECT status, format, starts_at, ends_at, starting_price, min_increment, current_price,
           leading_bid_id, leading_buyer_id, bid_count, soft_close_seconds, extension_seconds
    FROM bidding_auction WHERE id = %s FOR UPDATE
"""
# After the lock, in a statement of its own (so it sees every event the previous holder
# committed): an id for the bid and the head of the auction's audit stream. Both go into the
# bid's audit event, which is hashed before the write. A bid refused under the lock leaves its
# id unused: ids may have gaps, as a rolled-back insert always left one; sequences have none.
_HEAD_SQL = (
    "SELECT nextval(pg_get_serial_sequence('bidding_bid', 'id')), head.* "
    "FROM (SELECT 1) one LEFT JOIN ({head}) head ON true"
)
_NEW_BID_SQL = """new_bid AS (
    INSERT INTO bidding_bid
        (id, auction_id, registration_id, buyer_id, placed_by_id, amount, placed_at, sequence)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
)"""
# Re-checked here, after the lock: the alias may have been given since the unlocked read. The
# count sees every alias of the auction committed before the lock was granted.
_ALIAS_SQL = """alias AS (
    UPDATE bidding_registration SET alias_number = 1 + (
        SELECT count(*) FROM bidding_registration
        WHERE auction_id = %s AND alias_number IS NOT NULL
    )
    WHERE id = %s AND alias_number IS NULL
)"""


def bid_place(*, actor: User, auction_id: int, amount: object) -> Bid:
    """Place a bid. One transaction: lock the auction row, re-check status and time on the
    server clock, apply the rules of API.md (``bidding.rules``), extend an English auction on
    soft close, assign the next gapless sequence, update the price and leader, audit. Every
    refusal raises and changes nothing.

    Round trips of an accepted bid: the unlocked read of registration and auction; BEGIN; the
    row lock with the head of the auction's audit stream and the bid's id (``_bid_lock``); one
    statement that inserts the bid, updates the auction (and the bidder's alias on its first
    English bid) and appends the ``bid.placed`` event with what its audit listeners write
    (``_bid_write``); COMMIT. Every writer of the auction's stream holds the auction's row
    lock, which serialises the chain (DESIGN.md: no global lock on the hot path)."""
    org = _bidding_organization(actor)
    value = _amount(amount)
    if org.eligibility != "approved":
        raise BuyerNotEligible(f"Your organisation's eligibility is {org.eligibility}.")
    snapshot = _snapshot(buyer_id=org.pk, auction_id=auction_id)
    assert snapshot.registration_id is not None  # _snapshot refuses an unregistered buyer
    _refuse_early(snapshot, value)

    stream = stream_for("auction", auction_id)
    with transaction.atomic():
        lock = _bid_lock(auction_id=auction_id, stream=stream)
        now = timezone.now()  # after the lock: the order of the lock is the order of bids
        lock = _open_if_due(lock, auction_id=auction_id, stream=stream, now=now)
        changes = _decide(lock.auction, snapshot=snapshot, value=value, buyer_id=org.pk, now=now)
        bid = Bid(
            id=lock.bid_id,
            auction_id=auction_id,
            registration_id=snapshot.registration_id,
            buyer_id=org.pk,
            placed_by_id=actor.pk,
            amount=value,
            placed_at=now,
            sequence=changes.sequence,
        )
        _bid_write(bid, changes=changes, actor=actor, stream=stream, head=lock.head)
        if changes.new_end is not None:
            _extend(auction_id, from_=lock.auction.ends_at, to=changes.new_end, bid_id=bid.pk)
        auction_stream_changed(auction_id)
    bid._state.adding = False
    bid._state.db = connection.alias
    return bid


def _bidding_organization(actor: User) -> Organization:
    org = actor.organization
    if org is None or org.kind != "buyer":
        raise Forbidden("Only bidders of buyer organisations bid.")
    return org


def _amount(amount: object) -> Decimal:
    try:
        value = to_money(amount)
    except (ValueError, TypeError) as exc:
        raise InvalidValue(f"amount: {exc}", errors={"amount": [str(exc)]}) from exc
    except ArithmeticError as exc:  # decimal.InvalidOperation: more digits than Decimal holds
        raise InvalidValue("amount: too large.", errors={"amount": ["Too large."]}) from exc
    if value <= 0 or value >= _AMOUNT_LIMIT:
        raise InvalidValue("amount must be positive.", errors={"amount": ["Must be positive."]})
    return value


def _snapshot(*, buyer_id: int, auction_id: int) -> _Snapshot:
    """One read: the auction as it is now (unlocked) with the caller's registration, if any;
    refuses an unknown auction, an unregistered buyer and an unconfirmed deposit."""
    if not 0 < auction_id <= _BIGINT_MAX:  # no such id can exist
        raise NotFound("No such auction.")
    with connection.cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL, [buyer_id, auction_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such auction.")
    snapshot = _Snapshot(*row)
    if snapshot.registration_id is None:
        raise NotRegistered()
    if snapshot.registration_status != RegistrationStatus.APPROVED:
        raise DepositNotConfirmed()
    return snapshot


def _too_low(minimum: Decimal) -> BidTooLow:
    return BidTooLow(f"The minimum bid is {minimum}.", extra={"minimum_bid": str(minimum)})


def _refuse_early(snapshot: _Snapshot, value: Decimal) -> None:
    """Refusals decided from an unlocked read, so the hot path of a contested auction does not
    queue on its row lock just to be told no. Only facts that never revert are used: a closed or
    cancelled auction stays so, and an English price only rises, so a bid below the minimum of
    any earlier moment is below the current one too. Everything else is checked under the lock.
    """
    if snapshot.status in (AuctionStatus.CLOSED, AuctionStatus.CANCELLED):
        raise AuctionNotOpen(extra={"current_status": snapshot.status})
    minimum = rules.minimum_bid(snapshot)
    if value < minimum:
        raise _too_low(minimum)


def _bid_lock(*, auction_id: int, stream: str) -> _Lock:
    """Lock the auction's row (only its own columns: when the lock waited for another bid to
    commit, PostgreSQL re-reads the locked row but not joined rows, so anything joined would be
    stale), then read ``_HEAD_SQL``. With psycopg's client-side binding (Django's default) the
    two statements go in one message, one round trip; PostgreSQL still runs them one after the
    other, each with its own snapshot."""
    head = stream_head_query(stream)
    head_sql = _HEAD_SQL.format(head=head.sql)
    with connection.cursor() as cursor:
        if isinstance(cursor.cursor, psycopg.ClientCursor):
            cursor.execute(f"{_LOCK_SQL};\n{head_sql}", [auction_id, *head.params])
            auction = _Locked(*cursor.fetchone())
            cursor.nextset()
        else:  # server-side binding: one statement per message
            cursor.execute(_LOCK_SQL, [auction_id])
            auction = _Locked(*cursor.fetchone())
            cursor.execute(head_sql, head.params)
        bid_id, *head_columns = cursor.fetchone()
    return _Lock(auction, bid_id, stream_head_from(*head_columns))


def _open_if_due(lock: _Lock, *, auction_id: int, stream: str, now: dt.datetime) -> _Lock:
    """Rare: the first bid after a scheduled auction's start opens it (the open message may be
    late). Opening appends ``auction.opened`` to the stream, so its head is read again."""
    if lock.auction.status != AuctionStatus.SCHEDULED:
        return lock
    full = Auction.objects.get(pk=auction_id)  # already locked by this transaction
    if not open_if_due(full, now):
        return lock
    return lock._replace(
        auction=lock.auction._replace(status=full.status), head=stream_head(stream)
    )


def _decide(
    auction: _Locked, *, snapshot: _Snapshot, value: Decimal, buyer_id: int, now: dt.datetime
) -> _Changes:
    """The rules of API.md "Bids" under the lock. Every refusal raises before any write."""
    if auction.status != AuctionStatus.OPEN or not (auction.starts_at <= now < auction.ends_at):
        # Not "status": that key of a problem body is the HTTP status (RFC 9457).
        raise AuctionNotOpen(
            extra={"current_status": auction.status, "ends_at": auction.ends_at.isoformat()}
        )
    if rules.rebids_own_lead(auction, buyer_id=buyer_id):
        raise AlreadyLeading()
    minimum = rules.minimum_bid(auction)
    if value < minimum:
        raise _too_low(minimum)
    english = auction.format == AuctionFormat.ENGLISH
    # The leader's amount: an English auction's current price; a sealed one's leading bid.
    leading_amount = auction.current_price if english else _amount_of(auction.leading_bid_id)
    first_english_bid = english and snapshot.alias_number is None
    return _Changes(
        sequence=auction.bid_count + 1,
        current_price=value if english else None,
        leads=rules.takes_lead(amount=value, leading_amount=leading_amount),
        new_end=rules.extended_end(auction, placed_at=now),
        alias_registration_id=snapshot.registration_id if first_english_bid else None,
    )


def _amount_of(bid_id: int | None) -> Decimal | None:
    if bid_id is None:
        return None
    return Bid.objects.values_list("amount", flat=True).get(pk=bid_id)


def _bid_write(
    bid: Bid, *, changes: _Changes, actor: User, stream: str, head: StreamHead | None
) -> None:
    """One statement, under the auction's row lock: insert the bid; set the auction's
    ``bid_count`` to its sequence, and its price, leader and end where ``changes`` says; give
    the bidder's registration the auction's next alias number on its first English bid; and
    append the bid's ``bid.placed`` event to the auction's stream after ``head``."""
    sets = ["bid_count = %s"]
    params: list[Any] = [
        *(bid.pk, bid.auction_id, bid.registration_id, bid.buyer_id, bid.placed_by_id),
        *(bid.amount, bid.placed_at, bid.sequence, bid.sequence),
    ]
    if changes.current_price is not None:
        sets.append("current_price = %s")
        params.append(changes.current_price)
    if changes.leads:
        sets += ["leading_bid_id = %s", "leading_buyer_id = %s"]
        params += [bid.pk, bid.buyer_id]
    if changes.new_end is not None:
        sets.append("ends_at = %s")
        params.append(changes.new_end)
    params.append(bid.auction_id)
    parts = [
        _NEW_BID_SQL,
        f"updated AS (UPDATE bidding_auction SET {', '.join(sets)} WHERE id = %s)",  # noqa: S608
    ]
    if changes.alias_registration_id is not None:
        parts.append(_ALIAS_SQL)
        params += [bid.auction_id, changes.alias_registration_id]
    append = event_append(
        stream=stream,
        head=head,
        action=AuditAction.BID_PLACED,
        object_type="auction",
        object_id=bid.auction_id,
        actor=actor,
        data={
            "bid_id": bid.pk,
            "sequence": bid.sequence,
            "amount": bid.amount,
            "placed_at": bid.placed_at,
        },
    )
    # Listeners' writes (the events outbox) go in the same statement: no extra round trip.
    listener_parts, listener_params = append.with_parts()
    parts += listener_parts
    params += listener_params
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {append.sql}", [*params, *append.params])


def _extend(auction_id: int, *, from_: dt.datetime, to: dt.datetime, bid_id: int) -> None:
    """Record the soft-close extension and schedule the close at the new end."""
    auction_record(
        auction_id,
        AuditAction.AUCTION_EXTENDED,
        actor=None,
        data={"from": from_, "to": to, "bid_id": bid_id},
    )
    schedule(CLOSE_TASK, auction_id, to)
