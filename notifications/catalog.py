"""The event types integrators receive (API.md "Events, webhooks, live stream"), declared once.

Most are the dotted names of the audit actions users care about; ``bid.outbid``,
``auction.won``, ``auction.lost`` are derived from ``bid.placed`` and ``auction.closed``;
``settlement.due_soon`` comes from a periodic sweep; ``webhook.disabled`` tells an
organisation that one of its endpoints was switched off. Who receives which type, with which
fields, is in ``notifications.fanout``; docs/INTEGRATION.md documents both.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    AUCTION_CREATED = "auction.created"
    AUCTION_OPENED = "auction.opened"
    AUCTION_EXTENDED = "auction.extended"
    AUCTION_CLOSED = "auction.closed"
    AUCTION_CANCELLED = "auction.cancelled"
    AUCTION_WON = "auction.won"
    AUCTION_LOST = "auction.lost"
    BID_PLACED = "bid.placed"
    BID_OUTBID = "bid.outbid"
    REGISTRATION_CREATED = "registration.created"
    DEPOSIT_CONFIRMED = "deposit.confirmed"
    DEPOSIT_RELEASED = "deposit.released"
    DEPOSIT_APPLIED = "deposit.applied"
    DEPOSIT_FORFEITED = "deposit.forfeited"
    SETTLEMENT_CREATED = "settlement.created"
    SETTLEMENT_DUE_SOON = "settlement.due_soon"
    SETTLEMENT_PAID = "settlement.paid"
    SETTLEMENT_DEFAULTED = "settlement.defaulted"
    SETTLEMENT_RUNNER_UP_OFFERED = "settlement.runner_up_offered"
    LOANS_TRANSFERRED = "loans.transferred"
    SELLER_PAID_OUT = "seller.paid_out"
    PACKAGE_SUBMITTED = "package.submitted"
    PACKAGE_APPROVED = "package.approved"
    PACKAGE_REJECTED = "package.rejected"
    PACKAGE_WITHDRAWN = "package.withdrawn"
    LOAN_TAPE_IMPORTED = "loan_tape.imported"
    LOAN_TAPE_FAILED = "loan_tape.failed"
    ORGANIZATION_APPROVED = "organization.approved"
    ORGANIZATION_REJECTED = "organization.rejected"
    ORGANIZATION_SUSPENDED = "organization.suspended"
    WEBHOOK_DISABLED = "webhook.disabled"


EVENT_TYPES: frozenset[str] = frozenset(str(t) for t in EventType)

# What a user receives by e-mail until it chooses (``/api/v1/me/notification-preferences/``):
# the events that ask something of a person or end something, not every bid or extension.
DEFAULT_EMAIL_TYPES: frozenset[str] = frozenset(
    {
        EventType.AUCTION_WON,
        EventType.AUCTION_LOST,
        EventType.BID_OUTBID,
        EventType.DEPOSIT_CONFIRMED,
        EventType.DEPOSIT_FORFEITED,
        EventType.SETTLEMENT_CREATED,
        EventType.SETTLEMENT_DUE_SOON,
        EventType.SETTLEMENT_PAID,
        EventType.SETTLEMENT_DEFAULTED,
        EventType.SETTLEMENT_RUNNER_UP_OFFERED,
        EventType.LOANS_TRANSFERRED,
        EventType.PACKAGE_SUBMITTED,
        EventType.PACKAGE_APPROVED,
        EventType.PACKAGE_REJECTED,
        EventType.ORGANIZATION_APPROVED,
        EventType.ORGANIZATION_REJECTED,
        EventType.ORGANIZATION_SUSPENDED,
        EventType.WEBHOOK_DISABLED,
    }
)
