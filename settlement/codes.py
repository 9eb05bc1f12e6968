"""The problem+json codes settlement raises and the audit actions it records, each declared once.

The values are the wire values of API.md ("Error codes", "Audit").
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    AMOUNT_MISMATCH = "amount_mismatch"
    NO_RUNNER_UP = "no_runner_up"


class AuditAction(StrEnum):
    """Recorded in the settlement's stream (``settlement:<id>``), except ``deposit.forfeited``,
    which goes to the auction's stream beside bidding's other ``deposit.*`` events."""

    SETTLEMENT_CREATED = "settlement.created"
    SETTLEMENT_PAID = "settlement.paid"
    SETTLEMENT_DEFAULTED = "settlement.defaulted"
    SETTLEMENT_RUNNER_UP_OFFERED = "settlement.runner_up_offered"
    DEPOSIT_FORFEITED = "deposit.forfeited"

    # Transfer of ownership (settlement/transfers.py), in the same stream.
    LOANS_TRANSFERRED = "loans.transferred"
    SELLER_PAID_OUT = "seller.paid_out"
