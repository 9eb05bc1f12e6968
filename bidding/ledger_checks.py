"""What the ledger should hold for each registration's deposit, for ``marketplace.ledger``'s
verification (found by the ledger through this module's name; the core imports no domain app).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from bidding.models import DepositStatus, Registration
from marketplace.ledger.verify import DepositExpectation


def deposit_expectations() -> Iterator[DepositExpectation]:
    """Every registration with a deposit status: held -> its deposit amount is held; released,
    applied or forfeited -> nothing is held any more; none -> nothing was ever posted."""
    rows = (
        Registration.objects.order_by("pk")
        .values_list("pk", "buyer_id", "deposit_status", "deposit_amount")
        .iterator(chunk_size=5000)
    )
    for pk, buyer_id, status, amount in rows:
        held = amount if status == DepositStatus.HELD else Decimal(0)
        yield DepositExpectation(registration_id=pk, buyer_id=buyer_id, status=status, held=held)
