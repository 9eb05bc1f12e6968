"""Celery entry points that hand over from bidding to settlement (DESIGN.md: the close task
calls bidding's close service and settlement's open service inside one transaction)."""

from celery import shared_task
from django.db import transaction

from marketplace.celery import RetryingTask
from marketplace.observability import metrics


def close_and_settle(auction_id: int) -> str:
    from bidding.services.closing import auction_close
    from settlement.services import settlement_open

    with transaction.atomic():
        result = auction_close(auction_id=auction_id)
        if result.closed_now and result.awarded:
            settlement_open(auction=result.auction)
    if result.closed_now and result.auction.closed_at is not None:
        metrics.auction_closed((result.auction.closed_at - result.auction.ends_at).total_seconds())
    return result.auction.outcome or result.auction.status


@shared_task(base=RetryingTask, name="settlement.auction_close")
def auction_close(auction_id: int) -> str:
    return close_and_settle(auction_id)


@shared_task(name="settlement.auction_close_sweep")
def auction_close_sweep() -> int:
    """Close every auction whose end has come: a lost or early message only delays a close.

    An auction another process is closing (its row locked) is skipped, not waited for: after a
    worker crash every due auction is left to the sweeps (the crashed worker's timed messages
    come back only after the broker's visibility timeout), and the sweeps queued meanwhile then
    share the backlog across the pool's processes instead of queueing on the same rows."""
    from bidding.models import Auction
    from bidding.selectors import auctions_due_to_close

    closed = 0
    for auction_id in auctions_due_to_close():
        with transaction.atomic():
            locked = Auction.objects.select_for_update(skip_locked=True).filter(pk=auction_id)
            if not locked.exists():
                continue  # being closed (or bid on) right now: that one, or a later sweep, does it
            close_and_settle(auction_id)
        closed += 1
    return closed


# ---------------------------------------------------------------- transfer of ownership


@shared_task(base=RetryingTask, name="settlement.loans_transfer")
def loans_transfer(settlement_id: int) -> int | None:
    """Transfer a paid settlement's loans to its buyer; the transfer's id, or None when there
    was nothing to do (already transferred, not paid)."""
    from settlement.transfers import loans_transfer as transfer_service

    transfer = transfer_service(settlement_id=settlement_id)
    return None if transfer is None else transfer.pk


@shared_task(name="settlement.loans_transfer_sweep")
def loans_transfer_sweep() -> int:
    """Enqueue the transfer of every paid settlement whose transfer did not run: a lost message
    or a killed worker only delays a transfer."""
    from settlement.transfers import settlements_awaiting_transfer

    settlement_ids = list(settlements_awaiting_transfer())
    for settlement_id in settlement_ids:
        loans_transfer.delay(settlement_id)
    return len(settlement_ids)


@shared_task(name="settlement.default_sweep")
def default_sweep() -> int:
    """Default every settlement unpaid after its due time (beat; each in its own transaction)."""
    from settlement.defaults import settlements_default_due

    return settlements_default_due()
