"""Celery entry points that hand over from bidding to settlement (DESIGN.md: the close task
calls bidding's close service and settlement's open service inside one transaction)."""

from celery import shared_task
from django.db import transaction

from marketplace.celery import RetryingTask


def close_and_settle(auction_id: int) -> str:
    from bidding.services.closing import auction_close
    from settlement.services import settlement_open

    with transaction.atomic():
        result = auction_close(auction_id=auction_id)
        if result.closed_now and result.awarded:
            settlement_open(auction=result.auction)
    return result.auction.outcome or result.auction.status


@shared_task(base=RetryingTask, name="settlement.auction_close")
def auction_close(auction_id: int) -> str:
    return close_and_settle(auction_id)


@shared_task(name="settlement.auction_close_sweep")
def auction_close_sweep() -> int:
    """Close every auction whose end has come: a lost or early message only delays a close."""
    from bidding.selectors import auctions_due_to_close

    closed = 0
    for auction_id in auctions_due_to_close():
        close_and_settle(auction_id)
        closed += 1
    return closed


@shared_task(name="settlement.default_sweep")
def default_sweep() -> int:
    """Default every settlement unpaid after its due time (beat; each in its own transaction)."""
    from settlement.defaults import settlements_default_due

    return settlements_default_due()
