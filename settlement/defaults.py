"""Deadlines and defaults: a settlement still unpaid after its due time is defaulted.

The winner's applied deposit is forfeited to the seller, the buyer is barred from the package
(``bidding.PackageBar``: it may not register on any auction of it again), and the package goes
back to ``approved`` so the seller may auction it again or offer it to the runner-up
(``settlement.runner_up``).

Lock order, the same in every path that touches a settlement: the settlement row first, then
the registrations it concerns, then the package row (taken by listings' ``package_transition``).
The auction row is not taken: the auction is closed, and nothing else writes its registrations.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bidding.models import DepositStatus, PackageBar, Registration
from listings import services as listing_services
from marketplace.audit.services import record
from marketplace.ledger import movements
from settlement import selectors
from settlement.codes import AuditAction
from settlement.models import Settlement, SettlementStatus
from settlement.payments import locked_settlement, settlement_transition
from settlement.trail import settlement_record

logger = logging.getLogger(__name__)


def settlement_default(*, settlement_id: int) -> bool:
    """Default one settlement whose due time has passed, in a transaction of its own: status
    ``defaulted``, the applied deposit forfeited (``deposit_forfeit``), the buyer barred from
    the package, the package back to ``approved``, ``settlement.defaulted`` recorded.

    Locks the settlement row, then the winner's registration, then the package, and re-checks
    after the lock: a settlement paid (or defaulted) meanwhile, or not yet due, is left alone
    and False returned, so concurrent and repeated sweeps are harmless."""
    with transaction.atomic():
        settlement = locked_settlement(settlement_id)
        if settlement.status != SettlementStatus.AWAITING_PAYMENT:
            return False
        if settlement.due_at >= timezone.now():
            return False
        settlement_transition(settlement, "default")
        settlement.save(update_fields=["status"])
        forfeited = deposit_forfeit(settlement)
        PackageBar.objects.get_or_create(
            package_id=settlement.package_id,
            buyer_id=settlement.buyer_id,
            defaults={"reason": f"Defaulted on settlement {settlement.pk}."},
        )
        listing_services.package_transition(
            actor=None,
            package_id=settlement.package_id,
            name="return_to_market",
            data={"settlement_id": settlement.pk, "reason": "default"},
        )
        settlement_record(
            settlement.pk,
            AuditAction.SETTLEMENT_DEFAULTED,
            actor=None,
            data={
                "buyer_id": settlement.buyer_id,
                "due_at": settlement.due_at,
                "balance_due": settlement.balance_due,
                "deposit_forfeited": forfeited,
                "package_id": settlement.package_id,
                "barred": True,
            },
        )
    return True


def deposit_forfeit(settlement: Settlement) -> Decimal:
    """The deposit applied to a defaulted settlement goes to its seller: the registration's
    deposit ``applied`` -> ``forfeited`` and ``deposit.forfeited`` recorded on the auction;
    ``deposit_forfeited`` posted in the ledger, which also voids what the settlement left open
    (the buyer's debt, the seller's claim), so it is posted even when nothing was applied (an
    offer to the runner-up). Returns the amount forfeited. Runs in the caller's transaction,
    which holds the settlement's row lock; locks the registration."""
    amount = settlement.deposit_applied
    registration = Registration.objects.select_for_update().get(
        auction_id=settlement.auction_id, buyer_id=settlement.buyer_id
    )
    movements.deposit_forfeited(
        buyer_id=settlement.buyer_id,
        seller_id=settlement.seller_id,
        amount=amount,
        registration_id=registration.pk,
        settlement_id=settlement.pk,
    )
    if amount == 0:
        return Decimal(0)
    if registration.deposit_status != DepositStatus.APPLIED:
        raise RuntimeError(
            f"registration {registration.pk}: deposit {registration.deposit_status}, not applied"
        )
    registration.deposit_status = DepositStatus.FORFEITED
    registration.save(update_fields=["deposit_status"])
    record(
        action=AuditAction.DEPOSIT_FORFEITED,
        object_type="auction",
        object_id=settlement.auction_id,
        actor=None,
        data={
            "registration_id": registration.pk,
            "buyer_id": settlement.buyer_id,
            "seller_id": settlement.seller_id,
            "amount": amount,
            "settlement_id": settlement.pk,
        },
    )
    return amount


def settlements_default_due() -> int:
    """Default every settlement past its due time, each in its own transaction (one that fails
    is logged and retried by the next sweep; the others still go). Returns how many defaulted."""
    defaulted = 0
    for settlement_id in selectors.settlements_past_due(now=timezone.now()):
        try:
            defaulted += settlement_default(settlement_id=settlement_id)
        except Exception:
            logger.exception("default of settlement %s failed", settlement_id)
    return defaulted
