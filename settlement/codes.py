"""The problem+json codes settlement raises and the audit actions it records, each declared once.

The values are the wire values of API.md ("Error codes", "Audit").
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """None yet: settlement raises no code of its own until payment and runner-up offers come
    (API.md's ``amount_mismatch`` and ``no_runner_up`` will be declared here with them)."""


class AuditAction(StrEnum):
    """Recorded in the settlement's stream (``settlement:<id>``)."""

    SETTLEMENT_CREATED = "settlement.created"

    # Transfer of ownership (settlement/transfers.py), in the same stream.
    LOANS_TRANSFERRED = "loans.transferred"
    SELLER_PAID_OUT = "seller.paid_out"
