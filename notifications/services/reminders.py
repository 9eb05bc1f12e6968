"""``settlement.due_soon``: a periodic sweep tells a settlement's parties that its payment is
due within ``NOTIFICATIONS_DUE_SOON_HOURS``, once per settlement."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.audit.services import record
from marketplace.common.locks import try_advisory_xact_lock
from notifications.catalog import EventType
from notifications.codes import AuditAction
from notifications.models import Event
from settlement.models import Settlement, SettlementStatus


def due_soon_sweep(*, limit: int = 500) -> int:
    """Record ``settlement.due_soon`` for each unpaid settlement due within the window that has
    not had it (its events carry a ``dedup_key``, so a repeat writes nothing). Returns how many
    were recorded."""
    now = timezone.now()
    window = dt.timedelta(hours=settings.NOTIFICATIONS_DUE_SOON_HOURS)
    candidates = list(
        Settlement.objects.filter(
            status=SettlementStatus.AWAITING_PAYMENT, due_at__gt=now, due_at__lte=now + window
        )
        .order_by("due_at")
        .values_list("pk", "due_at", "balance_due")[:limit]
    )
    done = set(
        Event.objects.filter(dedup_key__in=[_key(pk) for pk, _, _ in candidates]).values_list(
            "dedup_key", flat=True
        )
    )
    count = 0
    for pk, due_at, balance_due in candidates:
        if _key(pk) not in done and _remind(pk, due_at=due_at, balance_due=balance_due):
            count += 1
    return count


def _key(settlement_id: int) -> str:
    return f"{EventType.SETTLEMENT_DUE_SOON}:{settlement_id}"


def _remind(settlement_id: int, *, due_at: dt.datetime, balance_due: object) -> bool:
    key = _key(settlement_id)
    with transaction.atomic():
        # One sweep per settlement at a time; the dedup key stops a later one.
        if not try_advisory_xact_lock(f"notifications:{key}"):
            return False
        if Event.objects.filter(dedup_key=key).exists():
            return False
        record(
            action=AuditAction.SETTLEMENT_DUE_SOON,
            object_type="settlement",
            object_id=settlement_id,
            data={"due_at": due_at, "balance_due": balance_due},
        )
    return True
