"""The timed messages of an auction: open at ``starts_at``, close at its (current) end."""

from __future__ import annotations

import datetime as dt

from celery import current_app
from django.db import transaction

# By task name, so bidding does not import settlement (whose entry point closes and settles).
CLOSE_TASK = "settlement.auction_close"
OPEN_TASK = "bidding.auction_open"


def schedule(task: str, auction_id: int, at: dt.datetime) -> None:
    """Enqueue a timed task after commit; the beat sweeper re-finds it if the message is lost."""

    def send() -> None:
        current_app.send_task(task, args=[auction_id], eta=at)

    transaction.on_commit(send)
