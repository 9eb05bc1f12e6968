"""Every write of bidding: auctions, registrations and deposits, bids, open, close, cancel.

Each state transition locks the auction row first (``select_for_update``) and re-checks state
and time on the server clock after the lock; bids on one auction therefore serialise on that
row, and bids on different auctions never wait on each other. Side effects (the scheduled
open/close messages) are enqueued after commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import psycopg
from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from bidding.models import (
    ACTIVE_STATUSES,
    AUCTION_TRANSITIONS,
    Auction,
    AuctionFormat,
    AuctionOutcome,
    AuctionStatus,
    Bid,
    DepositStatus,
    PackageBar,
    Registration,
    RegistrationStatus,
)
from listings import services as listing_services
from listings.models import Package
from marketplace.audit.models import AuditEvent
from marketplace.audit.services import (
    EVENT_INSERT_SQL,
    STREAM_HEAD_SQL,
    event_insert_params,
    event_next,
    record,
    stream_for,
)
from marketplace.common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidState,
    InvalidValue,
    NotFound,
    ValidationFailed,
)
from marketplace.common.money import to_money
from marketplace.common.transitions import transition_apply

# Licence types allowed to buy personal consumer NPLs on this platform.
ALLOWED_LICENCE_TYPES = frozenset({"national_amc", "local_amc", "financial_investment_company"})
CLOSE_TASK = "settlement.auction_close"
OPEN_TASK = "bidding.auction_open"


class AuctionNotOpen(Conflict):
    code = "auction_not_open"
    default_detail = "The auction is not open for bids."


class BidTooLow(Conflict):
    code = "bid_too_low"
    default_detail = "The bid is below the minimum."


class AlreadyLeading(Conflict):
    code = "already_leading"
    default_detail = "You already hold the leading bid."


class NotRegistered(DomainError):
    status_code = 403
    code = "not_registered"
    default_detail = "Your organisation is not registered for this auction."


class DepositNotConfirmed(DomainError):
    status_code = 403
    code = "deposit_not_confirmed"
    default_detail = "Your deposit for this auction has not been confirmed yet."


class BuyerNotEligible(DomainError):
    status_code = 403
    code = "buyer_not_eligible"
    default_detail = "Your organisation is not eligible to bid."


def _transition(auction: Auction, name: str) -> str:
    return transition_apply(auction, table=AUCTION_TRANSITIONS, name=name, noun="an auction")


def _deposit_settle(
    registration: Registration, *, auction: Auction, actor, status: str, reason: str = ""
) -> None:
    """A held deposit becomes applied or released; ``deposit.<status>`` is recorded. The caller
    holds the auction row lock and the registration's."""
    registration.deposit_status = status
    registration.save(update_fields=["deposit_status"])
    data = {
        "registration_id": registration.pk,
        "buyer_id": registration.buyer_id,
        "amount": registration.deposit_amount,
    }
    if reason:
        data["reason"] = reason
    record(
        action=f"deposit.{status}",
        object_type="auction",
        object_id=auction.pk,
        actor=actor,
        data=data,
    )


def _schedule(task: str, auction_id: int, at: dt.datetime) -> None:
    """Enqueue a timed task after commit; the beat sweeper re-finds it if the message is lost."""

    def send() -> None:
        current_app.send_task(task, args=[auction_id], eta=at)

    transaction.on_commit(send)


def _money(value, field: str, *, allow_zero: bool = False) -> Decimal:
    try:
        amount = to_money(value)
    except ValueError as exc:
        raise InvalidValue(f"{field}: {exc}", errors={field: [str(exc)]}) from exc
    except ArithmeticError as exc:  # decimal.InvalidOperation: more digits than Decimal holds
        raise InvalidValue(f"{field}: too large.", errors={field: ["Too large."]}) from exc
    if amount < 0 or (amount == 0 and not allow_zero):
        message = "Must be greater than zero." if not allow_zero else "Must be zero or more."
        raise InvalidValue(f"{field}: {message}", errors={field: [message]})
    if amount >= Decimal("1e16"):
        raise InvalidValue(f"{field}: too large.", errors={field: ["Too large."]})
    return amount


# --------------------------------------------------------------------------- auctions


def auction_create(
    *,
    actor,
    package_id: int,
    format: str,  # the API's field name
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    starting_price,
    min_increment,
    deposit_amount,
    reserve_price=None,
    soft_close_seconds: int = 300,
    extension_seconds: int = 300,
    payment_window_hours: int = 72,
) -> Auction:
    """The seller puts an approved package up for auction; the package becomes in_auction.

    Locks the package row; an auction whose start is now or past opens at once."""
    errors: dict[str, list[str]] = {}
    if format not in AuctionFormat.values:
        errors["format"] = [f"Must be one of: {', '.join(AuctionFormat.values)}."]
    now = timezone.now()
    if ends_at <= starts_at:
        errors["ends_at"] = ["Must be after starts_at."]
    if ends_at <= now:
        errors.setdefault("ends_at", []).append("Must be in the future.")
    if starts_at < now - dt.timedelta(minutes=5):
        errors["starts_at"] = ["Must be now or later."]
    if ends_at - starts_at > dt.timedelta(days=90):
        errors.setdefault("ends_at", []).append("An auction runs at most 90 days.")
    if not 0 <= soft_close_seconds <= 86_400:
        errors["soft_close_seconds"] = ["Must be between 0 and 86400."]
    if not 0 <= extension_seconds <= 86_400:
        errors["extension_seconds"] = ["Must be between 0 and 86400."]
    if not 0 <= payment_window_hours <= 720:
        errors["payment_window_hours"] = ["Must be between 0 and 720."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    start_price = _money(starting_price, "starting_price")
    increment = _money(min_increment, "min_increment")
    deposit = _money(deposit_amount, "deposit_amount", allow_zero=True)
    reserve = None if reserve_price in (None, "") else _money(reserve_price, "reserve_price")
    if reserve is not None and reserve < start_price:
        raise InvalidValue(
            "reserve_price must be at least starting_price.",
            errors={"reserve_price": ["Must be at least starting_price."]},
        )

    with transaction.atomic():
        package = Package.objects.select_for_update().get(pk=package_id)
        if package.seller_id != actor.organization_id:
            raise Forbidden("Only the seller auctions its package.")
        listing_services.package_transition(
            actor=actor, package_id=package.pk, name="auction_start"
        )
        opens_now = starts_at <= now
        auction = Auction.objects.create(
            package=package,
            seller_id=package.seller_id,
            created_by=actor,
            format=format,
            status=AuctionStatus.OPEN if opens_now else AuctionStatus.SCHEDULED,
            starts_at=starts_at,
            ends_at=ends_at,
            original_ends_at=ends_at,
            starting_price=start_price,
            min_increment=increment,
            reserve_price=reserve,
            deposit_amount=deposit,
            soft_close_seconds=soft_close_seconds,
            extension_seconds=extension_seconds,
            payment_window_hours=payment_window_hours,
            opened_at=now if opens_now else None,
        )
        record(
            action="auction.created",
            object_type="auction",
            object_id=auction.pk,
            actor=actor,
            data={
                "package_id": package.pk,
                "format": format,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "starting_price": start_price,
                "min_increment": increment,
                "reserve_price": reserve,
                "deposit_amount": deposit,
            },
        )
        if opens_now:
            record(
                action="auction.opened",
                object_type="auction",
                object_id=auction.pk,
                actor=None,
                data={"at": now},
            )
        else:
            _schedule(OPEN_TASK, auction.pk, starts_at)
        _schedule(CLOSE_TASK, auction.pk, ends_at)
    return auction


def auction_open(*, auction_id: int) -> Auction:
    """scheduled -> open once ``starts_at`` has come. Idempotent; locks the auction row."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        _open_if_due(auction, timezone.now())
    return auction


def _open_if_due(auction: Auction, now: dt.datetime) -> bool:
    if auction.status != AuctionStatus.SCHEDULED or now < auction.starts_at:
        return False
    _transition(auction, "open")
    auction.opened_at = now
    auction.save(update_fields=["status", "opened_at"])
    record(
        action="auction.opened",
        object_type="auction",
        object_id=auction.pk,
        actor=None,
        data={"at": now, "scheduled_for": auction.starts_at},
    )
    return True


@dataclass
class CloseResult:
    auction: Auction
    closed_now: bool
    awarded: bool


def auction_close(*, auction_id: int) -> CloseResult:
    """Close an auction whose (extended) end has come, exactly once.

    Locks the auction row and re-checks after the lock: an auction already closed or
    cancelled, or not yet at its current end, is left alone (``closed_now`` False), so repeated
    and concurrent runs are harmless. Decides the outcome (highest bid, ties to the earliest;
    awarded when the reserve is met, else no sale), marks the winner's deposit to be applied and
    the others released, returns the package to the market on no sale, and records
    ``auction.closed``. Must run inside the caller's transaction when a settlement is to be
    opened from the result (the close task does both in one transaction)."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        now = timezone.now()
        if auction.status not in ACTIVE_STATUSES or now < auction.ends_at:
            return CloseResult(auction, False, auction.outcome == AuctionOutcome.AWARDED)
        if auction.status == AuctionStatus.SCHEDULED:
            _open_if_due(auction, now)
        best = Bid.objects.filter(auction=auction).order_by("-amount", "sequence").first()
        awarded = best is not None and (
            auction.reserve_price is None or best.amount >= auction.reserve_price
        )
        _transition(auction, "close")
        auction.closed_at = now
        auction.outcome = AuctionOutcome.AWARDED if awarded else AuctionOutcome.NO_SALE
        if awarded:
            auction.winning_bid = best
            auction.winner_id = best.buyer_id
        auction.save()
        for registration in (
            Registration.objects.select_for_update()
            .filter(auction=auction, deposit_status=DepositStatus.HELD)
            .order_by("pk")
        ):
            won = awarded and registration.buyer_id == best.buyer_id
            _deposit_settle(
                registration,
                auction=auction,
                actor=None,
                status=DepositStatus.APPLIED if won else DepositStatus.RELEASED,
            )
        if not awarded:
            listing_services.package_transition(
                actor=None,
                package_id=auction.package_id,
                name="return_to_market",
                data={"auction_id": auction.pk, "reason": "no_sale"},
            )
        record(
            action="auction.closed",
            object_type="auction",
            object_id=auction.pk,
            actor=None,
            data={
                "outcome": auction.outcome,
                "bid_count": auction.bid_count,
                "winning_bid_id": best.pk if awarded else None,
                "price": best.amount if awarded else None,
                "winner_id": best.buyer_id if awarded else None,
                "reserve_met": bool(awarded),
            },
        )
    return CloseResult(auction, True, awarded)


def auction_cancel(*, actor, auction_id: int, reason: str = "") -> Auction:
    """Seller or compliance cancel a scheduled or open auction: deposits released, package back
    to approved. Locks the auction row, then its registrations in primary-key order."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        is_seller = auction.seller_id == actor.organization_id
        if not (is_seller or getattr(actor, "role", "") == "compliance_officer"):
            raise Forbidden("Only the seller or compliance cancel an auction.")
        now = timezone.now()
        if auction.status in ACTIVE_STATUSES and now >= auction.ends_at:
            # Its end has come: it is closed (and possibly awarded) exactly once, not cancelled
            # in the moment before the close task runs (DESIGN.md, Invariant 3).
            raise InvalidState(
                "The auction has reached its end and is being closed.",
                extra={"current_status": auction.status},
            )
        previous = _transition(auction, "cancel")
        auction.cancelled_at = now
        auction.save(update_fields=["status", "cancelled_at"])
        for registration in (
            Registration.objects.select_for_update()
            .filter(auction=auction, deposit_status=DepositStatus.HELD)
            .order_by("pk")
        ):
            _deposit_settle(
                registration,
                auction=auction,
                actor=actor,
                status=DepositStatus.RELEASED,
                reason="cancelled",
            )
        listing_services.package_transition(
            actor=actor,
            package_id=auction.package_id,
            name="return_to_market",
            data={"auction_id": auction.pk, "reason": "cancelled"},
        )
        record(
            action="auction.cancelled",
            object_type="auction",
            object_id=auction.pk,
            actor=actor,
            data={"from": previous, "reason": reason},
        )
    return auction


# --------------------------------------------------------------------------- registrations


def _check_eligible(actor) -> None:
    org = actor.organization
    if org is None or org.kind != "buyer":
        raise Forbidden("Only bidders of buyer organisations register for auctions.")
    if org.eligibility != "approved":
        raise BuyerNotEligible(f"Your organisation's eligibility is {org.eligibility}.")
    if org.licence_type not in ALLOWED_LICENCE_TYPES:
        raise BuyerNotEligible(
            f"Licence type {org.licence_type!r} may not buy personal consumer NPLs."
        )


def registration_create(*, actor, auction_id: int, accept_nda: bool) -> Registration:
    """A bidder registers its organisation: accepts the NDA; approved at once when the deposit
    is 0, else pending the platform's confirmation. Opens the package's data room to it."""
    if accept_nda is not True:
        raise ValidationFailed(
            "The NDA must be accepted.", errors={"accept_nda": ["Must be true."]}
        )
    _check_eligible(actor)
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        if auction.status not in ACTIVE_STATUSES or timezone.now() >= auction.ends_at:
            raise AuctionNotOpen("Registration is closed for this auction.")
        if PackageBar.objects.filter(
            package_id=auction.package_id, buyer_id=actor.organization_id
        ).exists():
            raise BuyerNotEligible("Your organisation is barred from this package.")
        if Registration.objects.filter(auction=auction, buyer_id=actor.organization_id).exists():
            raise InvalidState("Your organisation is already registered for this auction.")
        free = auction.deposit_amount == 0
        registration = Registration.objects.create(
            auction=auction,
            buyer_id=actor.organization_id,
            registered_by=actor,
            status=RegistrationStatus.APPROVED if free else RegistrationStatus.PENDING_DEPOSIT,
            deposit_amount=auction.deposit_amount,
            nda_accepted_at=timezone.now(),
        )
        record(
            action="registration.created",
            object_type="auction",
            object_id=auction.pk,
            actor=actor,
            data={
                "registration_id": registration.pk,
                "status": registration.status,
                "nda_accepted": True,
                "deposit_amount": auction.deposit_amount,
            },
        )
        listing_services.data_room_grant(
            actor=actor,
            package_id=auction.package_id,
            organization_id=actor.organization_id,
            reason=f"registered for auction {auction.pk} (NDA accepted)",
        )
    return registration


def registration_confirm_deposit(*, actor, registration_id: int) -> Registration:
    """Platform confirms a buyer's deposit: pending_deposit -> approved, deposit held.
    Locks the auction row, then the registration."""
    with transaction.atomic():
        auction_id = (
            Registration.objects.filter(pk=registration_id)
            .values_list("auction_id", flat=True)
            .first()
        )
        if auction_id is None:
            raise NotFound("No such registration.")
        Auction.objects.select_for_update().get(pk=auction_id)
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        auction = registration.auction
        if registration.status != RegistrationStatus.PENDING_DEPOSIT:
            raise InvalidState(
                f"The registration is {registration.status}.",
                extra={"current_status": registration.status},
            )
        if auction.status not in ACTIVE_STATUSES:
            raise InvalidState(
                f"The auction is {auction.status}.", extra={"current_status": auction.status}
            )
        registration.status = RegistrationStatus.APPROVED
        registration.deposit_status = DepositStatus.HELD
        registration.deposit_confirmed_at = timezone.now()
        registration.save(update_fields=["status", "deposit_status", "deposit_confirmed_at"])
        record(
            action="deposit.confirmed",
            object_type="auction",
            object_id=auction.pk,
            actor=actor,
            data={
                "registration_id": registration.pk,
                "buyer_id": registration.buyer_id,
                "amount": registration.deposit_amount,
            },
        )
    return registration


# --------------------------------------------------------------------------- bids


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


_BIGINT_MAX = 2**63 - 1
# The bid path is the hottest of the API: plain SQL of just the columns it needs, so a bid costs
# few round trips and little ORM work (docs/BENCHMARKS.md, "Bidding").
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
# committed): the head of the auction's audit stream, and an id for the bid. Both go into the
# bid's audit event, which is hashed before the write. A bid refused under the lock leaves its
# id unused: ids may have gaps, as a rolled-back insert always left one; sequences have none.
_HEAD_SQL = (
    "SELECT nextval(pg_get_serial_sequence('bidding_bid', 'id')), head.sequence, head.hash "  # noqa: S608
    f"FROM (SELECT 1) one LEFT JOIN ({STREAM_HEAD_SQL}) head ON true"
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


def _refuse_early(snapshot: _Snapshot, value: Decimal) -> None:
    """Refusals decided from an unlocked read, so the hot path of a contested auction does not
    queue on its row lock just to be told no. Only facts that never revert are used: a closed or
    cancelled auction stays so, and an English price only rises, so a bid below the minimum of
    any earlier moment is below the current one too. Everything else is checked under the lock.
    """
    if snapshot.status in (AuctionStatus.CLOSED, AuctionStatus.CANCELLED):
        raise AuctionNotOpen(extra={"current_status": snapshot.status})
    minimum = snapshot.starting_price
    if snapshot.format == AuctionFormat.ENGLISH and snapshot.current_price is not None:
        minimum = snapshot.current_price + snapshot.min_increment
    if value < minimum:
        raise BidTooLow(f"The minimum bid is {minimum}.", extra={"minimum_bid": str(minimum)})


def bid_place(*, actor, auction_id: int, amount) -> Bid:
    """Place a bid. One transaction: lock the auction row, re-check status and time on the
    server clock, apply the rules of API.md, extend on soft close, assign the next gapless
    sequence, update the price and leader, audit. Every refusal raises and changes nothing.

    Round trips of an accepted bid: the unlocked read of registration and auction; BEGIN; the
    row lock with the head of the auction's audit stream and the bid's id (``_bid_lock``); one
    statement that inserts the bid, updates the auction (and the bidder's alias on its first
    English bid) and appends the ``bid.placed`` event (``_bid_write``); COMMIT. Every writer of
    the auction's stream holds the auction's row lock, which serialises the chain (DESIGN.md:
    no global lock on the hot path)."""
    org = actor.organization
    if org is None or org.kind != "buyer":
        raise Forbidden("Only bidders of buyer organisations bid.")
    try:
        value = to_money(amount)
    except (ValueError, TypeError) as exc:
        raise InvalidValue(f"amount: {exc}", errors={"amount": [str(exc)]}) from exc
    except ArithmeticError as exc:  # decimal.InvalidOperation: more digits than Decimal holds
        raise InvalidValue("amount: too large.", errors={"amount": ["Too large."]}) from exc
    if value <= 0 or value >= Decimal("1e16"):
        raise InvalidValue("amount must be positive.", errors={"amount": ["Must be positive."]})
    if org.eligibility != "approved":
        raise BuyerNotEligible(f"Your organisation's eligibility is {org.eligibility}.")
    if not 0 < auction_id <= _BIGINT_MAX:  # no such id can exist
        raise NotFound("No such auction.")

    # One read: the auction as it is now (unlocked) with the caller's registration, if any.
    with connection.cursor() as cursor:
        cursor.execute(_SNAPSHOT_SQL, [org.pk, auction_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such auction.")
    snapshot = _Snapshot(*row)
    if snapshot.registration_id is None:
        raise NotRegistered()
    if snapshot.registration_status != RegistrationStatus.APPROVED:
        raise DepositNotConfirmed()
    _refuse_early(snapshot, value)

    stream = stream_for("auction", auction_id)
    with transaction.atomic():
        auction, bid_id, head = _bid_lock(auction_id=auction_id, stream=stream)
        now = timezone.now()  # after the lock: the order of the lock is the order of bids
        if auction.status == AuctionStatus.SCHEDULED:  # rare: the first bid opens it
            full = Auction.objects.get(pk=auction_id)  # already locked by this transaction
            if _open_if_due(full, now):  # which appended auction.opened to the stream
                auction = auction._replace(status=full.status)
                with connection.cursor() as cursor:
                    cursor.execute(STREAM_HEAD_SQL, [stream])
                    head = cursor.fetchone()
        if auction.status != AuctionStatus.OPEN or not (auction.starts_at <= now < auction.ends_at):
            # Not "status": that key of a problem body is the HTTP status (RFC 9457).
            raise AuctionNotOpen(
                extra={"current_status": auction.status, "ends_at": auction.ends_at.isoformat()}
            )

        english = auction.format == AuctionFormat.ENGLISH
        if english:
            if auction.leading_buyer_id == org.pk:
                raise AlreadyLeading()
            minimum = (
                auction.starting_price
                if auction.leading_bid_id is None
                else auction.current_price + auction.min_increment
            )
        else:
            minimum = auction.starting_price
        if value < minimum:
            raise BidTooLow(f"The minimum bid is {minimum}.", extra={"minimum_bid": str(minimum)})

        if english or auction.leading_bid_id is None:
            leads = True
        else:  # sealed: the highest, ties to the earliest
            leads = value > Bid.objects.values_list("amount", flat=True).get(
                pk=auction.leading_bid_id
            )
        ends_at = auction.ends_at
        if auction.soft_close_seconds and auction.ends_at - now <= dt.timedelta(
            seconds=auction.soft_close_seconds
        ):
            new_end = now + dt.timedelta(seconds=auction.extension_seconds)
            if new_end > auction.ends_at:
                ends_at = new_end

        sequence = auction.bid_count + 1
        event = event_next(
            stream=stream,
            head=head,
            action="bid.placed",
            object_type="auction",
            object_id=auction_id,
            actor=actor,
            data={"bid_id": bid_id, "sequence": sequence, "amount": value, "placed_at": now},
        )
        _bid_write(
            auction_id=auction_id,
            bid=(bid_id, auction_id, snapshot.registration_id, org.pk, actor.pk, value, now),
            sequence=sequence,
            current_price=value if english else None,
            leading_buyer_id=org.pk if leads else None,
            ends_at=ends_at if ends_at != auction.ends_at else None,
            alias_registration_id=(
                snapshot.registration_id if english and snapshot.alias_number is None else None
            ),
            event=event,
        )
        if ends_at != auction.ends_at:
            record(
                action="auction.extended",
                object_type="auction",
                object_id=auction_id,
                actor=None,
                data={"from": auction.ends_at, "to": ends_at, "bid_id": bid_id},
            )
            _schedule(CLOSE_TASK, auction_id, ends_at)
    bid = Bid(
        id=bid_id,
        auction_id=auction_id,
        registration_id=snapshot.registration_id,
        buyer_id=org.pk,
        placed_by_id=actor.pk,
        amount=value,
        placed_at=now,
        sequence=sequence,
    )
    bid._state.adding = False
    bid._state.db = connection.alias
    return bid


def _bid_lock(*, auction_id: int, stream: str) -> tuple[_Locked, int, tuple[int, str] | None]:
    """Lock the auction's row (only its own columns: when the lock waited for another bid to
    commit, PostgreSQL re-reads the locked row but not joined rows, so anything joined would be
    stale), then read ``_HEAD_SQL``. With psycopg's client-side binding (Django's default) the
    two statements go in one message, one round trip; PostgreSQL still runs them one after the
    other, each with its own snapshot. Returns the row, the bid's id and the stream's head."""
    with connection.cursor() as cursor:
        if isinstance(cursor.cursor, psycopg.ClientCursor):
            cursor.execute(f"{_LOCK_SQL};\n{_HEAD_SQL}", [auction_id, stream])
            auction = _Locked(*cursor.fetchone())
            cursor.nextset()
        else:  # server-side binding: one statement per message
            cursor.execute(_LOCK_SQL, [auction_id])
            auction = _Locked(*cursor.fetchone())
            cursor.execute(_HEAD_SQL, [stream])
        bid_id, head_sequence, head_hash = cursor.fetchone()
    return auction, bid_id, (head_sequence, head_hash) if head_sequence is not None else None


def _bid_write(
    *,
    auction_id: int,
    bid: tuple,
    sequence: int,
    current_price: Decimal | None,
    leading_buyer_id: int | None,
    ends_at: dt.datetime | None,
    alias_registration_id: int | None,
    event: AuditEvent,
) -> None:
    """One statement, under the auction's row lock: insert the bid (its id, auction,
    registration, buyer, placed_by, amount, placed_at) with ``sequence``; set the auction's
    ``bid_count`` to the sequence, and its price (``current_price``), leader (the bid and
    ``leading_buyer_id``) and end (``ends_at``) where given; give the registration
    ``alias_registration_id`` the next alias number of the auction if it has none yet; and
    append the bid's audit ``event`` (prepared with ``event_next``)."""
    sets = ["bid_count = %s"]
    params: list = [*bid, sequence, sequence]
    if current_price is not None:
        sets.append("current_price = %s")
        params.append(current_price)
    if leading_buyer_id is not None:
        sets += ["leading_bid_id = %s", "leading_buyer_id = %s"]
        params += [bid[0], leading_buyer_id]
    if ends_at is not None:
        sets.append("ends_at = %s")
        params.append(ends_at)
    params.append(auction_id)
    parts = [
        _NEW_BID_SQL,
        f"updated AS (UPDATE bidding_auction SET {', '.join(sets)} WHERE id = %s)",  # noqa: S608
    ]
    if alias_registration_id is not None:
        parts.append(_ALIAS_SQL)
        params += [auction_id, alias_registration_id]
    params += event_insert_params(event)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {EVENT_INSERT_SQL}", params)
