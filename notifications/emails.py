"""Plain-text e-mails of events: a subject and a short message in clear words, then the event's
fields, so that a person understands it without knowing the API."""

from __future__ import annotations

from typing import Any

from notifications.catalog import EventType
from notifications.models import Event

# Per type: what happened, in a sentence; ``{field}`` are the event's data fields.
SENTENCES: dict[str, str] = {
    EventType.AUCTION_CREATED: "Auction {auction_id} of package {package_id} was scheduled.",
    EventType.AUCTION_OPENED: "Auction {auction_id} is open for bids.",
    EventType.AUCTION_EXTENDED: "Auction {auction_id} was extended to {ends_at}.",
    EventType.AUCTION_CLOSED: "Auction {auction_id} closed: {outcome}.",
    EventType.AUCTION_CANCELLED: "Auction {auction_id} was cancelled.",
    EventType.AUCTION_WON: "You won auction {auction_id} at {price}.",
    EventType.AUCTION_LOST: "Auction {auction_id} closed and you did not win it ({outcome}).",
    EventType.BID_PLACED: "A bid of {amount} was placed on auction {auction_id}.",
    EventType.BID_OUTBID: (
        "You were outbid on auction {auction_id}: the price is now {current_price}; "
        "the minimum next bid is {minimum_next_bid}."
    ),
    EventType.REGISTRATION_CREATED: "Registration {registration_id} for auction {auction_id}.",
    EventType.DEPOSIT_CONFIRMED: "The deposit of {amount} for auction {auction_id} is confirmed.",
    EventType.DEPOSIT_RELEASED: "The deposit of {amount} for auction {auction_id} was released.",
    EventType.DEPOSIT_APPLIED: (
        "The deposit of {amount} for auction {auction_id} was applied to the price."
    ),
    EventType.DEPOSIT_FORFEITED: (
        "The deposit of {amount} for auction {auction_id} was forfeited."
    ),
    EventType.SETTLEMENT_CREATED: (
        "Settlement {settlement_id}: {balance_due} is due by {due_at} (price {price})."
    ),
    EventType.SETTLEMENT_DUE_SOON: (
        "Settlement {settlement_id}: {balance_due} is due by {due_at}, which is soon."
    ),
    EventType.SETTLEMENT_PAID: "Settlement {settlement_id} was paid ({amount}).",
    EventType.SETTLEMENT_DEFAULTED: (
        "Settlement {settlement_id} defaulted: it was not paid in time."
    ),
    EventType.SETTLEMENT_RUNNER_UP_OFFERED: (
        "Settlement {settlement_id}: the package is offered at {price}; {balance_due} is due by "
        "{due_at}."
    ),
    EventType.LOANS_TRANSFERRED: (
        "The {loan_count} loans of package {package_id} were transferred (settlement "
        "{settlement_id})."
    ),
    EventType.SELLER_PAID_OUT: "The proceeds of settlement {settlement_id} ({amount}) were paid.",
    EventType.PACKAGE_SUBMITTED: "Package {package_id} was submitted for review.",
    EventType.PACKAGE_APPROVED: "Package {package_id} was approved.",
    EventType.PACKAGE_REJECTED: "Package {package_id} was sent back to draft by the review.",
    EventType.PACKAGE_WITHDRAWN: "Package {package_id} was withdrawn.",
    EventType.LOAN_TAPE_IMPORTED: "The loan tape of package {package_id} was imported.",
    EventType.LOAN_TAPE_FAILED: "The loan tape of package {package_id} was refused.",
    EventType.ORGANIZATION_APPROVED: "Organisation {organization_id} was approved.",
    EventType.ORGANIZATION_REJECTED: "Organisation {organization_id} was rejected.",
    EventType.ORGANIZATION_SUSPENDED: "Organisation {organization_id} was suspended.",
    EventType.WEBHOOK_DISABLED: (
        "Webhook endpoint {webhook_id} was disabled after {consecutive_failures} failed "
        "deliveries in a row. Fix it, then set it active again."
    ),
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "-"


def email_of(event: Event) -> tuple[str, str]:
    """The subject and plain-text body of ``event``'s e-mail."""
    fields = _Blank({k: ("-" if v is None else v) for k, v in event.data.items()})
    sentence = SENTENCES.get(event.type, event.type).format_map(fields)
    lines = [
        sentence,
        "",
        f"Event: {event.type} ({event.public_id})",
        f"Time: {event.created_at.isoformat()}",
        *(f"{key}: {fields[key]}" for key in sorted(event.data)),
        "",
        "You receive this because your organisation is concerned. Choose which events you",
        "receive by e-mail at /api/v1/me/notification-preferences/.",
    ]
    return f"NPL Marketplace: {sentence}", "\n".join(lines) + "\n"
