"""The chart of accounts: one function per money event, each posting one balanced transaction.

Callers never build entries; they call the event that happened and get its transaction id (None
when the amount is zero: nothing moved). Each runs inside the caller's transaction, so the money
moves if and only if the domain change that caused it commits. Amounts are Decimal > 0. Signed
amounts: debit positive, credit negative. docs/LEDGER.md walks through a whole sale and a default.

    event               debit (+)                          credit (-)
    deposit_held        platform_cash (platform)           deposits_held (buyer)
    deposit_released    deposits_held (buyer)              platform_cash (platform)
    settlement_due      settlement_payable (buyer)         seller_payable (seller)
    deposit_applied     deposits_held (buyer)              settlement_payable (buyer)
    payment_received    platform_cash (platform)           settlement_payable (buyer)
    seller_payout       seller_payable (seller),           seller_paid (seller),
                        seller_paid (seller)               platform_cash (platform)
    deposit_forfeited   deposits_held (buyer) if held,     forfeited (seller)
                        voids the settlement's open
                        settlement_payable / seller_payable

``currency`` (optional, not part of the events' contract): the first posting of a registration
(``deposit_held``) or of a settlement (``settlement_due``) names the package's currency; later
postings of the same registration or settlement inherit it (``services.posting_currency``).
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from marketplace.common.atomic import require_atomic
from marketplace.common.errors import InvalidValue
from marketplace.common.money import CENT
from marketplace.ledger.models import AccountKind as A
from marketplace.ledger.models import EntryKind
from marketplace.ledger.services import (
    Leg,
    balance_of,
    ledger_post,
    platform_organization_id,
    posting_currency,
)


def _checked(amount: Decimal, what: str) -> Decimal:
    require_atomic(f"ledger.{what}")
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidValue(f"{what}: the amount must be a finite Decimal, not {amount!r}.")
    if amount < 0 or amount != amount.quantize(CENT):
        raise InvalidValue(f"{what}: the amount must be >= 0 with at most 2 places: {amount}.")
    return amount


def deposit_held(
    *, buyer_id: int, amount: Decimal, registration_id: int, currency: str | None = None
) -> UUID | None:
    """The platform received a buyer's deposit into escrow."""
    if not _checked(amount, "deposit_held"):
        return None
    return ledger_post(
        kind=EntryKind.DEPOSIT_HELD,
        legs=[
            Leg(platform_organization_id(), A.PLATFORM_CASH, amount),
            Leg(buyer_id, A.DEPOSITS_HELD, -amount),
        ],
        currency=posting_currency(currency=currency, registration_id=registration_id),
        registration_id=registration_id,
    )


def deposit_released(*, buyer_id: int, amount: Decimal, registration_id: int) -> UUID | None:
    """A held deposit went back to the buyer (lost the auction, cancel, excess over the price)."""
    if not _checked(amount, "deposit_released"):
        return None
    return ledger_post(
        kind=EntryKind.DEPOSIT_RELEASED,
        legs=[
            Leg(buyer_id, A.DEPOSITS_HELD, amount),
            Leg(platform_organization_id(), A.PLATFORM_CASH, -amount),
        ],
        currency=posting_currency(registration_id=registration_id),
        registration_id=registration_id,
    )


def settlement_due(
    *,
    buyer_id: int,
    seller_id: int,
    price: Decimal,
    settlement_id: int,
    currency: str | None = None,
) -> UUID | None:
    """An award: the buyer owes the price, the seller is owed it (once the buyer pays)."""
    if not _checked(price, "settlement_due"):
        return None
    return ledger_post(
        kind=EntryKind.SETTLEMENT_DUE,
        legs=[
            Leg(buyer_id, A.SETTLEMENT_PAYABLE, price),
            Leg(seller_id, A.SELLER_PAYABLE, -price),
        ],
        currency=posting_currency(currency=currency, settlement_id=settlement_id),
        settlement_id=settlement_id,
    )


def deposit_applied(
    *, buyer_id: int, amount: Decimal, registration_id: int, settlement_id: int
) -> UUID | None:
    """The winner's held deposit pays part of the price (the money stays in escrow)."""
    if not _checked(amount, "deposit_applied"):
        return None
    return ledger_post(
        kind=EntryKind.DEPOSIT_APPLIED,
        legs=[
            Leg(buyer_id, A.DEPOSITS_HELD, amount),
            Leg(buyer_id, A.SETTLEMENT_PAYABLE, -amount),
        ],
        currency=posting_currency(registration_id=registration_id, settlement_id=settlement_id),
        settlement_id=settlement_id,
        registration_id=registration_id,
    )


def payment_received(*, buyer_id: int, amount: Decimal, settlement_id: int) -> UUID | None:
    """The buyer paid the balance due into escrow."""
    if not _checked(amount, "payment_received"):
        return None
    return ledger_post(
        kind=EntryKind.PAYMENT_RECEIVED,
        legs=[
            Leg(platform_organization_id(), A.PLATFORM_CASH, amount),
            Leg(buyer_id, A.SETTLEMENT_PAYABLE, -amount),
        ],
        currency=posting_currency(settlement_id=settlement_id),
        settlement_id=settlement_id,
    )


def seller_payout(*, seller_id: int, amount: Decimal, settlement_id: int) -> UUID | None:
    """The proceeds left escrow for the seller. Through the seller's ``seller_paid`` clearing
    account: its credit is the remittance line of the seller's statement, its debit the cash
    that left, so a balance other than zero shows a half-booked payout."""
    if not _checked(amount, "seller_payout"):
        return None
    return ledger_post(
        kind=EntryKind.SELLER_PAYOUT,
        legs=[
            Leg(seller_id, A.SELLER_PAYABLE, amount),
            Leg(seller_id, A.SELLER_PAID, -amount),
            Leg(seller_id, A.SELLER_PAID, amount),
            Leg(platform_organization_id(), A.PLATFORM_CASH, -amount),
        ],
        currency=posting_currency(settlement_id=settlement_id),
        settlement_id=settlement_id,
    )


def deposit_forfeited(
    *,
    buyer_id: int,
    seller_id: int,
    amount: Decimal,
    registration_id: int,
    settlement_id: int | None,
) -> UUID | None:
    """A defaulting buyer's deposit goes to the seller. Whatever of it is still held leaves
    ``deposits_held``; with a settlement, its open ``settlement_payable`` (the buyer's debt) and
    ``seller_payable`` (the seller's claim) are voided, the sale being off. ``amount`` must be
    the deposit held or applied: anything else does not balance and is refused. With no
    deposit (``amount`` 0) the settlement is still voided: nothing is forfeited, but the
    buyer's debt and the seller's claim are off."""
    if not _checked(amount, "deposit_forfeited") and settlement_id is None:
        return None
    legs = [
        Leg(
            buyer_id,
            A.DEPOSITS_HELD,
            -balance_of(
                organization_id=buyer_id, account=A.DEPOSITS_HELD, registration_id=registration_id
            ),
        ),
        Leg(seller_id, A.FORFEITED, -amount),
    ]
    if settlement_id is not None:
        for org_id, account in ((buyer_id, A.SETTLEMENT_PAYABLE), (seller_id, A.SELLER_PAYABLE)):
            open_balance = balance_of(
                organization_id=org_id, account=account, settlement_id=settlement_id
            )
            legs.append(Leg(org_id, account, -open_balance))
    return ledger_post(
        kind=EntryKind.DEPOSIT_FORFEITED,
        legs=legs,
        currency=posting_currency(registration_id=registration_id, settlement_id=settlement_id),
        settlement_id=settlement_id,
        registration_id=registration_id,
    )
