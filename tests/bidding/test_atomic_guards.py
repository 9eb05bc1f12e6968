"""Services that write part of a larger change refuse to run outside their caller's transaction
(``marketplace.common.atomic.require_atomic``), so a forgotten ``transaction.atomic()`` fails
loudly instead of committing half a change."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bidding.models import Auction, Registration
from bidding.services.auctions import open_if_due
from bidding.services.closing import deposit_settle
from marketplace.audit.services import event_append
from settlement.services import settlement_open

CALLS = {
    "open_if_due": lambda: open_if_due(Auction(), timezone.now()),
    "deposit_settle": lambda: deposit_settle(Registration(), actor=None, status="released"),
    "settlement_open": lambda: settlement_open(auction=Auction()),
    "event_append": lambda: event_append(
        stream="x:1", head=None, action="x.y", object_type="x", object_id=1
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_refuses_to_run_outside_a_transaction(name):
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic\(\)"):
        CALLS[name]()
