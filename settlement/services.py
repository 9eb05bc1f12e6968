"""Every write of settlement. (Payment, ledger and transfer come with the settlement issue.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bidding.models import Auction, AuctionOutcome, DepositStatus, Registration
from marketplace.audit.services import record
from marketplace.common.atomic import require_atomic
from marketplace.ledger import movements
from settlement.codes import AuditAction
from settlement.models import Settlement


def _post_settlement_open(settlement: Settlement, registration: Registration) -> None:
    """Ledger: the price falls due, the winner's deposit pays part of it, and whatever of the
    deposit exceeds the price goes back to the buyer."""
    movements.settlement_due(
        buyer_id=settlement.buyer_id,
        seller_id=settlement.seller_id,
        price=settlement.price,
        settlement_id=settlement.pk,
        currency=settlement.auction.package.currency,
    )
    if settlement.deposit_applied > 0:
        movements.deposit_applied(
            buyer_id=settlement.buyer_id,
            amount=settlement.deposit_applied,
            registration_id=registration.pk,
            settlement_id=settlement.pk,
        )
        movements.deposit_released(
            buyer_id=settlement.buyer_id,
            amount=registration.deposit_amount - settlement.deposit_applied,
            registration_id=registration.pk,
        )


def settlement_open(*, auction: Auction) -> Settlement:
    """Open the settlement of an awarded auction: price, deposit applied, balance due, due time.

    Must run inside the close transaction (the auction row is locked there), so the award and
    its settlement commit together. Idempotent: the settlement of an auction's winning bid is
    created once (unique per bid), and so is its posting to the ledger."""
    require_atomic("settlement.settlement_open")
    if auction.outcome != AuctionOutcome.AWARDED or auction.winning_bid_id is None:
        raise ValueError("only an awarded auction is settled")
    existing = Settlement.objects.filter(bid_id=auction.winning_bid_id).first()
    if existing is not None:
        return existing
    bid = auction.winning_bid
    if bid is None or auction.closed_at is None:  # an award has both (the checker cannot tell)
        raise ValueError("only a closed, awarded auction is settled")
    registration = Registration.objects.get(pk=bid.registration_id)
    deposit = (
        min(registration.deposit_amount, bid.amount)
        if registration.deposit_status in (DepositStatus.APPLIED, DepositStatus.HELD)
        else Decimal(0)
    )
    settlement = Settlement.objects.create(
        auction=auction,
        bid=bid,
        package_id=auction.package_id,
        seller_id=auction.seller_id,
        buyer_id=bid.buyer_id,
        price=bid.amount,
        deposit_applied=deposit,
        balance_due=bid.amount - deposit,
        due_at=auction.closed_at + dt.timedelta(hours=auction.payment_window_hours),
    )
    _post_settlement_open(settlement, registration)
    record(
        action=AuditAction.SETTLEMENT_CREATED,
        object_type="settlement",
        object_id=settlement.pk,
        actor=None,
        data={
            "auction_id": auction.pk,
            "buyer_id": bid.buyer_id,
            "price": bid.amount,
            "deposit_applied": deposit,
            "balance_due": settlement.balance_due,
            "due_at": settlement.due_at,
        },
    )
    return settlement
