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

from celery import current_app
from django.db import transaction
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
from marketplace.audit.services import record
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
    format: str,  # noqa: A002  (the API's field name)
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


def _refuse_early(snapshot: Auction, value: Decimal) -> None:
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
    sequence, update the price and leader, audit. Every refusal raises and changes nothing."""
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

    # One read: the caller's registration with the auction as it is now (unlocked).
    registration = (
        Registration.objects.filter(auction_id=auction_id, buyer_id=org.pk)
        .select_related("auction")
        .first()
    )
    if registration is None:
        if not Auction.objects.filter(pk=auction_id).exists():
            raise NotFound("No such auction.")
        raise NotRegistered()
    if registration.status != RegistrationStatus.APPROVED:
        raise DepositNotConfirmed()
    _refuse_early(registration.auction, value)

    with transaction.atomic():
        # No select_related here: when the lock waited for another bid to commit, PostgreSQL
        # re-reads the locked auction row but not joined rows, so a joined leading bid would
        # be stale. The leader is read by its own statement after the lock.
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        now = timezone.now()  # after the lock: the order of the lock is the order of bids
        _open_if_due(auction, now)
        if auction.status != AuctionStatus.OPEN or not (auction.starts_at <= now < auction.ends_at):
            # Not "status": that key of a problem body is the HTTP status (RFC 9457).
            raise AuctionNotOpen(
                extra={"current_status": auction.status, "ends_at": auction.ends_at.isoformat()}
            )

        if auction.format == AuctionFormat.ENGLISH:
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

        sequence = auction.bid_count + 1
        bid = Bid.objects.create(
            auction=auction,
            registration=registration,
            buyer_id=org.pk,
            placed_by=actor,
            amount=value,
            placed_at=now,
            sequence=sequence,
        )
        auction.bid_count = sequence
        fields = ["bid_count"]
        if auction.format == AuctionFormat.ENGLISH:
            auction.current_price = value
            auction.leading_bid = bid
            auction.leading_buyer_id = org.pk
            fields += ["current_price", "leading_bid", "leading_buyer"]
            if registration.alias_number is None:  # read before the lock: re-read under it
                registration.refresh_from_db(fields=["alias_number"])
            if registration.alias_number is None:
                taken = Registration.objects.filter(
                    auction=auction, alias_number__isnull=False
                ).count()
                registration.alias_number = taken + 1
                registration.save(update_fields=["alias_number"])
        elif auction.leading_bid_id is None or value > auction.leading_bid.amount:
            auction.leading_bid = bid  # sealed: the highest, ties to the earliest
            auction.leading_buyer_id = org.pk
            fields += ["leading_bid", "leading_buyer"]

        extended_from = None
        if auction.soft_close_seconds and auction.ends_at - now <= dt.timedelta(
            seconds=auction.soft_close_seconds
        ):
            new_end = now + dt.timedelta(seconds=auction.extension_seconds)
            if new_end > auction.ends_at:
                extended_from = auction.ends_at
                auction.ends_at = new_end
                fields.append("ends_at")
        auction.save(update_fields=fields)
        record(
            action="bid.placed",
            object_type="auction",
            object_id=auction.pk,
            actor=actor,
            data={"bid_id": bid.pk, "sequence": sequence, "amount": value, "placed_at": now},
            stream_locked=True,  # the auction row lock already serialises this stream
        )
        if extended_from is not None:
            record(
                action="auction.extended",
                object_type="auction",
                object_id=auction.pk,
                actor=None,
                data={"from": extended_from, "to": auction.ends_at, "bid_id": bid.pk},
            )
            _schedule(CLOSE_TASK, auction.pk, auction.ends_at)
    return bid
