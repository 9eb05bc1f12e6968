"""Transfer of ownership: a paid settlement's loans pass to its buyer, exactly once.

``loans_transfer`` is the one service that completes a settlement (``paid`` -> ``completed``).
In one transaction it moves every loan of the package to the buyer (one set-based statement,
owned by listings), writes the transfer-registry record with the loans' digest, marks the
package ``sold`` and the settlement ``completed``, pays the seller out in the ledger and records
``loans.transferred`` and ``seller.paid_out``. The Celery task ``settlement.loans_transfer``
runs it; a crash before the commit leaves nothing behind, and the beat sweep
(``settlements_awaiting_transfer``) finds the paid settlement again.

A bought package is never listed again by its buyer (personal NPLs may not be resold): only a
bank's disposal officer creates packages (``listings.services.package_create``), so a buyer
organisation has no path to list anything, and a ``sold`` package has no transition out of
``sold`` (``listings.models.PACKAGE_TRANSITIONS``): it is never auctioned again.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from listings.ownership import LoansMoved, loans_move_to_owner
from listings.services import package_transition
from market.deals import deal_record
from marketplace.audit.services import record
from marketplace.ledger.movements import seller_payout
from settlement.codes import AuditAction
from settlement.models import Settlement, SettlementStatus, Transfer


def loans_transfer(*, settlement_id: int) -> Transfer | None:
    """Complete a paid settlement: the transfer it makes, or None when there is nothing to do
    (not paid, already transferred, defaulted): a retry or a second run changes nothing.

    Locks the settlement row first (every writer of a settlement does), then the package row
    (through listings' transition); the loans are updated under those locks. Everything below
    commits together or not at all: loans, registry record, package, settlement, ledger, audit.
    """
    with transaction.atomic():
        settlement = Settlement.objects.select_for_update().get(pk=settlement_id)
        if settlement.status != SettlementStatus.PAID or _has_transfer(settlement):
            return None
        _abort_when_client_is_gone()
        package = package_transition(
            actor=None,
            package_id=settlement.package_id,
            name="sell",
            data={"settlement_id": settlement.pk, "buyer_id": settlement.buyer_id},
        )
        transfer_id = _next_transfer_id()
        moved = loans_move_to_owner(
            package=package, owner_id=settlement.buyer_id, transfer_id=transfer_id
        )
        transfer = _transfer_record(settlement, transfer_id, moved)
        settlement.status = SettlementStatus.COMPLETED
        settlement.completed_at = transfer.transferred_at
        settlement.save(update_fields=["status", "completed_at"])
        _record_transferred(settlement, transfer)
        _pay_seller(settlement)
        # The sale's deal facts (docs/MARKET.md) commit with the completion or not at all.
        deal_record(settlement=settlement)
    return transfer


def settlements_awaiting_transfer(
    *, paid_before: dt.datetime | None = None
) -> QuerySet[Settlement, int]:
    """Ids of paid settlements whose transfer has not run (lost message, crashed worker), paid
    before ``paid_before`` (default: ``TRANSFER_SWEEP_GRACE_SECONDS`` ago, which leaves the
    message enqueued on payment time to arrive first)."""
    if paid_before is None:
        paid_before = timezone.now() - dt.timedelta(seconds=settings.TRANSFER_SWEEP_GRACE_SECONDS)
    return (
        Settlement.objects.filter(
            status=SettlementStatus.PAID, transfer__isnull=True, paid_at__lt=paid_before
        )
        .order_by("paid_at", "id")
        .values_list("id", flat=True)
    )


def _has_transfer(settlement: Settlement) -> bool:
    return Transfer.objects.filter(settlement_id=settlement.pk).exists()


def _abort_when_client_is_gone() -> None:
    # A worker killed in the middle leaves its backend running the UPDATE; PostgreSQL checks the
    # socket every second and aborts that transaction instead of finishing it for nobody (it
    # holds the settlement's lock, which the retry waits for).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL client_connection_check_interval = 1000")


def _next_transfer_id() -> int:
    # The record is written after the move (it carries the digest), and the loans carry its id.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('settlement_transfer', 'id'))")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _transfer_record(settlement: Settlement, transfer_id: int, moved: LoansMoved) -> Transfer:
    return Transfer.objects.create(
        id=transfer_id,
        package_id=settlement.package_id,
        seller_id=settlement.seller_id,
        buyer_id=settlement.buyer_id,
        settlement=settlement,
        price=settlement.price,
        loan_count=moved.count,
        total_balance=moved.total_balance,
        digest=moved.digest,
        transferred_at=timezone.now(),
    )


def _record_transferred(settlement: Settlement, transfer: Transfer) -> None:
    record(
        action=AuditAction.LOANS_TRANSFERRED,
        object_type="settlement",
        object_id=settlement.pk,
        actor=None,
        data={
            "transfer_id": transfer.pk,
            "package_id": transfer.package_id,
            "seller_id": transfer.seller_id,
            "buyer_id": transfer.buyer_id,
            "price": transfer.price,
            "loan_count": transfer.loan_count,
            "total_balance": transfer.total_balance,
            "digest": transfer.digest,
            "from": SettlementStatus.PAID,
            "to": SettlementStatus.COMPLETED,
        },
    )


def _pay_seller(settlement: Settlement) -> None:
    """The proceeds (the whole price: the applied deposit and the paid balance) to the seller."""
    ledger_transaction = seller_payout(
        seller_id=settlement.seller_id, amount=settlement.price, settlement_id=settlement.pk
    )
    record(
        action=AuditAction.SELLER_PAID_OUT,
        object_type="settlement",
        object_id=settlement.pk,
        actor=None,
        data={
            "seller_id": settlement.seller_id,
            "amount": settlement.price,
            "ledger_transaction_id": str(ledger_transaction) if ledger_transaction else None,
        },
    )
