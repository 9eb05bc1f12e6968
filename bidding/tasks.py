"""Celery entry points of bidding: thin, by id, idempotent."""

from celery import shared_task

from marketplace.celery import RetryingTask


@shared_task(base=RetryingTask, name="bidding.auction_open")
def auction_open(auction_id: int) -> str:
    from bidding.services.auctions import auction_open as open_auction

    return open_auction(auction_id=auction_id).status


@shared_task(name="bidding.auction_open_sweep")
def auction_open_sweep() -> int:
    """Open every scheduled auction whose start has come (a lost message only delays)."""
    from bidding.selectors import auctions_due_to_open
    from bidding.services.auctions import auction_open as open_auction

    opened = 0
    for auction_id in auctions_due_to_open():
        open_auction(auction_id=auction_id)
        opened += 1
    return opened
