"""The problem+json codes bidding raises and the audit actions it records, each declared once.

The values are the wire values of API.md ("Error codes", "Audit"); grep for a member to find
every place that raises or records it. Generic codes (``invalid_value``, ``invalid_state``,
``not_found``, ``permission_denied``, ...) belong to ``marketplace.common``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    AUCTION_NOT_OPEN = "auction_not_open"
    BID_TOO_LOW = "bid_too_low"
    ALREADY_LEADING = "already_leading"
    NOT_REGISTERED = "not_registered"
    DEPOSIT_NOT_CONFIRMED = "deposit_not_confirmed"
    BUYER_NOT_ELIGIBLE = "buyer_not_eligible"
    STREAM_NOT_SERVED_HERE = "stream_not_served_here"


class AuditAction(StrEnum):
    """Recorded in the auction's stream (``auction:<id>``)."""

    AUCTION_CREATED = "auction.created"
    AUCTION_OPENED = "auction.opened"
    AUCTION_EXTENDED = "auction.extended"
    AUCTION_CLOSED = "auction.closed"
    AUCTION_CANCELLED = "auction.cancelled"
    BID_PLACED = "bid.placed"
    REGISTRATION_CREATED = "registration.created"
    DEPOSIT_CONFIRMED = "deposit.confirmed"
    DEPOSIT_RELEASED = "deposit.released"
    DEPOSIT_APPLIED = "deposit.applied"
