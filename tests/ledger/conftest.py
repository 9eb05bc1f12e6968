from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import BidFactory, RegistrationFactory
from tests.support import end_auction


@pytest.fixture
def closed_sale(auction_open, bidder_user, granted_buyer_user, seller_user):
    """An awarded auction of the seller's bank: the bidder's organisation won at 9.1m, the
    granted buyer's lost at 9.0m; both had a 400k deposit confirmed. Closed and settled."""
    winner = RegistrationFactory(auction=auction_open, registered_by=bidder_user)
    loser = RegistrationFactory(auction=auction_open, registered_by=granted_buyer_user)
    BidFactory(registration=loser, amount=Decimal("9000000.00"))
    BidFactory(registration=winner, amount=Decimal("9100000.00"))
    end_auction(auction_open)
    close_and_settle(auction_open.pk)
    return SimpleNamespace(
        auction=auction_open,
        winner=winner,
        loser=loser,
        settlement=Settlement.objects.get(auction=auction_open),
        seller_id=seller_user.organization_id,
    )
