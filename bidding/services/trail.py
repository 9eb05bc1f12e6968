"""The auction's audit trail: every event bidding records goes to the auction's stream
(``auction:<id>``), inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from bidding.codes import AuditAction
from bidding.models import Registration
from marketplace.accounts.models import User
from marketplace.audit.services import record


def auction_record(
    auction_id: int, action: AuditAction, *, actor: User | None, data: dict[str, Any]
) -> None:
    """Record ``action`` on the auction; ``actor`` None is the system (a worker, the clock)."""
    record(action=action, object_type="auction", object_id=auction_id, actor=actor, data=data)


def deposit_record(
    action: AuditAction, registration: Registration, *, actor: User | None, reason: str = ""
) -> None:
    """Record what happened to a registration's deposit (``deposit.*``) on its auction."""
    data: dict[str, Any] = {
        "registration_id": registration.pk,
        "buyer_id": registration.buyer_id,
        "amount": registration.deposit_amount,
    }
    if reason:
        data["reason"] = reason
    auction_record(registration.auction_id, action, actor=actor, data=data)
