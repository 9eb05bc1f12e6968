"""Settlements and transfers (settlement's actions, on the settlement's stream): the two
parties and the platform; a runner-up offer goes to the new buyer, not the defaulter; a payout
to the seller only (and the platform)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marketplace.audit.models import AuditEvent
from notifications.catalog import EventType
from notifications.codes import AuditAction as Notifications
from notifications.fanout import Notice, handles, pick, platform_ids, to_all
from settlement.codes import AuditAction as Settlement
from settlement.models import Settlement as SettlementModel

# For each action, the fields of its audit data that the parties receive.
_FIELDS: dict[str, tuple[str, ...]] = {
    Settlement.SETTLEMENT_CREATED: ("price", "deposit_applied", "balance_due", "due_at"),
    Settlement.SETTLEMENT_PAID: ("amount", "paid_at"),
    Settlement.SETTLEMENT_DEFAULTED: ("balance_due", "due_at", "deposit_forfeited"),
    Settlement.SETTLEMENT_RUNNER_UP_OFFERED: (
        "runner_up_of",
        "bid_id",
        "price",
        "deposit_applied",
        "balance_due",
        "due_at",
    ),
    Settlement.LOANS_TRANSFERRED: ("transfer_id", "loan_count", "total_balance", "price"),
    Settlement.SELLER_PAID_OUT: ("amount",),
    Notifications.SETTLEMENT_DUE_SOON: ("balance_due", "due_at"),
}


def _parties(settlement_id: int) -> dict[str, Any]:
    return dict(
        SettlementModel.objects.values("auction_id", "package_id", "seller_id", "buyer_id").get(
            pk=settlement_id
        )
    )


@handles(*_FIELDS)
def settlement_moved(event: AuditEvent) -> Iterable[Notice]:
    settlement_id = int(event.object_id)
    parties = _parties(settlement_id)
    data = {"settlement_id": settlement_id, **parties, **pick(event.data, *_FIELDS[event.action])}
    recipients = [parties["seller_id"], *platform_ids()]
    if event.action != Settlement.SELLER_PAID_OUT:
        recipients.insert(0, parties["buyer_id"])
    dedup = None
    if event.action == Notifications.SETTLEMENT_DUE_SOON:
        dedup = f"{EventType.SETTLEMENT_DUE_SOON}:{settlement_id}"
    return [
        Notice(n.type, n.organization_id, n.data, dedup)
        for n in to_all(event.action, recipients, data)
    ]
