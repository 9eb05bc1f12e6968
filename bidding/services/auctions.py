"""Putting a package up for auction, and opening the auction when its start comes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from bidding.codes import AuditAction
from bidding.models import AUCTION_TRANSITIONS, Auction, AuctionFormat, AuctionStatus
from bidding.services.schedule import CLOSE_TASK, OPEN_TASK, schedule
from bidding.services.trail import auction_record
from listings import services as listing_services
from listings.models import Package
from marketplace.accounts.models import User
from marketplace.common.atomic import require_atomic
from marketplace.common.errors import Forbidden, InvalidValue, ValidationFailed
from marketplace.common.money import to_money
from marketplace.common.transitions import transition_apply

MoneyInput = Decimal | str | int

MAX_RUNNING_TIME = dt.timedelta(days=90)
START_GRACE = dt.timedelta(minutes=5)  # a start "now" sent a moment ago is still now
MAX_SECONDS = 86_400  # soft close and extension: at most a day
MAX_PAYMENT_WINDOW_HOURS = 720


@dataclass(frozen=True)
class AuctionTerms:
    """The terms a seller sets (API.md "Auctions"), as given: money as decimal strings or
    Decimals. ``auction_create`` checks them; the API view builds them from the request."""

    format: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    starting_price: MoneyInput
    min_increment: MoneyInput
    deposit_amount: MoneyInput
    reserve_price: MoneyInput | None = None
    soft_close_seconds: int = 300
    extension_seconds: int = 300
    payment_window_hours: int = 72


class _Prices(NamedTuple):
    """The terms' amounts, checked."""

    starting_price: Decimal
    min_increment: Decimal
    deposit_amount: Decimal
    reserve_price: Decimal | None


def auction_transition(auction: Auction, name: str) -> str:
    """Move the (locked) auction along ``AUCTION_TRANSITIONS``; returns the previous status."""
    return transition_apply(auction, table=AUCTION_TRANSITIONS, name=name, noun="an auction")


def auction_create(*, actor: User, package_id: int, terms: AuctionTerms) -> Auction:
    """The seller puts an approved package up for auction; the package becomes in_auction.

    Refuses invalid terms before any write (400, every field's error at once). Locks the package
    row; an auction whose start is now or past opens at once. The open (when scheduled) and the
    close are enqueued after commit."""
    now = timezone.now()
    _check_times(terms, now)
    prices = _check_prices(terms)
    with transaction.atomic():
        package = Package.objects.select_for_update().get(pk=package_id)
        if package.seller_id != actor.organization_id:
            raise Forbidden("Only the seller auctions its package.")
        listing_services.package_transition(
            actor=actor, package_id=package.pk, name="auction_start"
        )
        auction = _auction_insert(actor=actor, package=package, terms=terms, prices=prices, now=now)
        _record_created(auction, actor=actor)
        if auction.status == AuctionStatus.OPEN:
            auction_record(auction.pk, AuditAction.AUCTION_OPENED, actor=None, data={"at": now})
        else:
            schedule(OPEN_TASK, auction.pk, auction.starts_at)
        schedule(CLOSE_TASK, auction.pk, auction.ends_at)
    return auction


def _check_times(terms: AuctionTerms, now: dt.datetime) -> None:
    """Format, times and durations: every error at once (400 ``validation_error``)."""
    errors: dict[str, list[str]] = {}
    if terms.format not in AuctionFormat.values:
        errors["format"] = [f"Must be one of: {', '.join(AuctionFormat.values)}."]
    if terms.ends_at <= terms.starts_at:
        errors["ends_at"] = ["Must be after starts_at."]
    if terms.ends_at <= now:
        errors.setdefault("ends_at", []).append("Must be in the future.")
    if terms.starts_at < now - START_GRACE:
        errors["starts_at"] = ["Must be now or later."]
    if terms.ends_at - terms.starts_at > MAX_RUNNING_TIME:
        errors.setdefault("ends_at", []).append("An auction runs at most 90 days.")
    for field in ("soft_close_seconds", "extension_seconds"):
        if not 0 <= getattr(terms, field) <= MAX_SECONDS:
            errors[field] = [f"Must be between 0 and {MAX_SECONDS}."]
    if not 0 <= terms.payment_window_hours <= MAX_PAYMENT_WINDOW_HOURS:
        errors["payment_window_hours"] = [f"Must be between 0 and {MAX_PAYMENT_WINDOW_HOURS}."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)


def _check_prices(terms: AuctionTerms) -> _Prices:
    """The amounts as Decimals (400 ``invalid_value`` on the first bad one); the reserve, when
    set, at least the starting price."""
    start_price = _money(terms.starting_price, "starting_price")
    increment = _money(terms.min_increment, "min_increment")
    deposit = _money(terms.deposit_amount, "deposit_amount", allow_zero=True)
    reserve = (
        None if terms.reserve_price in (None, "") else _money(terms.reserve_price, "reserve_price")
    )
    if reserve is not None and reserve < start_price:
        raise InvalidValue(
            "reserve_price must be at least starting_price.",
            errors={"reserve_price": ["Must be at least starting_price."]},
        )
    return _Prices(start_price, increment, deposit, reserve)


def _money(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
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


def _auction_insert(
    *, actor: User, package: Package, terms: AuctionTerms, prices: _Prices, now: dt.datetime
) -> Auction:
    opens_now = terms.starts_at <= now
    return Auction.objects.create(
        package=package,
        seller_id=package.seller_id,
        created_by=actor,
        format=terms.format,
        status=AuctionStatus.OPEN if opens_now else AuctionStatus.SCHEDULED,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        original_ends_at=terms.ends_at,
        starting_price=prices.starting_price,
        min_increment=prices.min_increment,
        reserve_price=prices.reserve_price,
        deposit_amount=prices.deposit_amount,
        soft_close_seconds=terms.soft_close_seconds,
        extension_seconds=terms.extension_seconds,
        payment_window_hours=terms.payment_window_hours,
        opened_at=now if opens_now else None,
    )


def _record_created(auction: Auction, *, actor: User) -> None:
    auction_record(
        auction.pk,
        AuditAction.AUCTION_CREATED,
        actor=actor,
        data={
            "package_id": auction.package_id,
            "format": auction.format,
            "starts_at": auction.starts_at,
            "ends_at": auction.ends_at,
            "starting_price": auction.starting_price,
            "min_increment": auction.min_increment,
            "reserve_price": auction.reserve_price,
            "deposit_amount": auction.deposit_amount,
        },
    )


def auction_open(*, auction_id: int) -> Auction:
    """scheduled -> open once ``starts_at`` has come. Idempotent; locks the auction row."""
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        open_if_due(auction, timezone.now())
    return auction


def open_if_due(auction: Auction, now: dt.datetime) -> bool:
    """Open a scheduled auction whose start has come and record ``auction.opened``; returns
    whether it opened. The caller's transaction holds the auction's row lock."""
    require_atomic("bidding.open_if_due")
    if auction.status != AuctionStatus.SCHEDULED or now < auction.starts_at:
        return False
    auction_transition(auction, "open")
    auction.opened_at = now
    auction.save(update_fields=["status", "opened_at"])
    auction_record(
        auction.pk,
        AuditAction.AUCTION_OPENED,
        actor=None,
        data={"at": now, "scheduled_for": auction.starts_at},
    )
    return True
