"""Every write of settlement. (Payment, ledger and transfer come with the settlement issue.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bidding.models import Auction, AuctionOutcome, DepositStatus, Registration
from marketplace.audit.services import record
from marketplace.common.atomic import require_atomic
from settlement.codes import AuditAction
from settlement.models import Settlement


def settlement_open(*, auction: Auction) -> Settlement:
    """Open the settlement of an awarded auction: price, deposit applied, balance due, due time.

    Must run inside the close transaction (the auction row is locked there), so the award and
    its settlement commit together. Idempotent: the settlement of an auction's winning bid is
    created once (unique per bid)."""
    require_atomic("settlement.settlement_open")
    if auction.outcome != AuctionOutcome.AWARDED or auction.winning_bid_id is None:
        raise ValueError("only an awarded auction is settled")
    existing = Settlement.objects.filter(bid_id=auction.winning_bid_id).first()
    if existing is not None:
        return existing
    bid = auction.winning_bid
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
