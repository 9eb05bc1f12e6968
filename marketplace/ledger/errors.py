"""The ledger's refusals."""

from __future__ import annotations

from marketplace.common.errors import DomainError
from marketplace.ledger.codes import ErrorCode


class UnbalancedPosting(DomainError):
    """A posting whose entries do not sum to zero (or mix currencies). Always a bug of the
    caller, never of the client: a 500 if it ever reaches the API."""

    status_code = 500
    code = ErrorCode.LEDGER_UNBALANCED
    default_detail = "A ledger transaction must balance: its entries sum to zero."
