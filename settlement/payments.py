"""The platform confirms that the buyer paid the balance due; the transfer of ownership follows.

Lock order: the settlement row only (``select_for_update``). The transfer task, started after
commit, takes the same row first, so a payment and its transfer never interleave.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from marketplace.accounts.models import User
from marketplace.common.errors import InvalidValue, NotFound, ValidationFailed
from marketplace.common.money import to_money
from marketplace.common.transitions import transition_apply
from marketplace.ledger import movements
from marketplace.outbox import services as outbox
from settlement.codes import AuditAction
from settlement.errors import AmountMismatch
from settlement.models import REFERENCE_MAX_LENGTH, SETTLEMENT_TRANSITIONS, Settlement
from settlement.trail import settlement_record

# By name, so payment does not import the transfer code (settlement.transfers implements it).
TRANSFER_TASK = "settlement.loans_transfer"


def locked_settlement(settlement_id: int) -> Settlement:
    """The settlement row, locked until the caller's transaction ends (404 when absent)."""
    try:
        return Settlement.objects.select_for_update().get(pk=settlement_id)
    except Settlement.DoesNotExist as exc:
        raise NotFound("No such settlement.") from exc


def settlement_transition(settlement: Settlement, name: str) -> str:
    """Move the (locked) settlement along ``SETTLEMENT_TRANSITIONS``; 409 ``invalid_state``
    from any other status. Returns the previous status; the caller saves."""
    return transition_apply(
        settlement, table=SETTLEMENT_TRANSITIONS, name=name, noun="a settlement"
    )


def _amount(amount: Decimal | str) -> Decimal:
    try:
        value = to_money(amount)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidValue(f"amount: {exc}", errors={"amount": [str(exc)]}) from exc
    if value < 0:
        raise InvalidValue("amount must not be negative.", errors={"amount": ["Must be >= 0."]})
    return value


def _clean_reference(reference: str) -> str:
    cleaned = (reference or "").strip()
    if not cleaned or len(cleaned) > REFERENCE_MAX_LENGTH:
        raise ValidationFailed(
            "The payment reference is required.",
            errors={"reference": [f"1 to {REFERENCE_MAX_LENGTH} characters."]},
        )
    return cleaned


def settlement_confirm_payment(
    *, actor: User, settlement_id: int, amount: Decimal | str, reference: str
) -> Settlement:
    """The platform confirms the buyer's payment of the balance due: ``awaiting_payment`` ->
    ``paid``, the reference kept, ``payment_received`` posted in the ledger (nothing when the
    deposit covered the price), ``settlement.paid`` recorded, and the transfer of ownership
    enqueued after commit.

    Refused with 409 ``amount_mismatch`` (``expected_amount``) when ``amount`` is not exactly
    the balance due, 409 ``invalid_state`` from any other status: a repeat of a confirmed
    payment is refused, never taken twice; 400 ``invalid_value`` for an amount that is not a
    plain decimal with at most 2 places, 400 ``validation_error`` without a reference.
    Locks the settlement row."""
    amount = _amount(amount)
    reference = _clean_reference(reference)
    with transaction.atomic():
        settlement = locked_settlement(settlement_id)
        settlement_transition(settlement, "pay")
        if amount != settlement.balance_due:
            raise AmountMismatch(
                f"The balance due is {settlement.balance_due}, not {amount}.",
                extra={"expected_amount": str(settlement.balance_due)},
            )
        settlement.paid_at = timezone.now()
        settlement.payment_reference = reference
        settlement.save(update_fields=["status", "paid_at", "payment_reference"])
        movements.payment_received(
            buyer_id=settlement.buyer_id, amount=settlement.balance_due, settlement_id=settlement.pk
        )
        settlement_record(
            settlement.pk,
            AuditAction.SETTLEMENT_PAID,
            actor=actor,
            data={"amount": amount, "reference": reference, "paid_at": settlement.paid_at},
        )
        transfer_enqueue(settlement.pk)
    return settlement


def transfer_enqueue(settlement_id: int) -> None:
    """Enqueue the transfer task in the caller's transaction (an outbox row, published after
    commit or by the relay once the broker is back; the transfer sweep is the last resort)."""
    outbox.enqueue(TRANSFER_TASK, settlement_id)
