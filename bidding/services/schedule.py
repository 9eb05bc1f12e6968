"""The timed messages of an auction: open at ``starts_at``, close at its (current) end."""

from __future__ import annotations

import datetime as dt

from marketplace.outbox import services as outbox

# By task name, so bidding does not import settlement (whose entry point closes and settles).
CLOSE_TASK = "settlement.auction_close"
OPEN_TASK = "bidding.auction_open"


def schedule(task: str, auction_id: int, at: dt.datetime) -> None:
    """Enqueue a timed task in the caller's transaction (an outbox row, published after commit
    or, if the broker is down, by the relay); the beat sweeper re-finds due auctions anyway."""
    outbox.enqueue(task, auction_id, eta=at)
