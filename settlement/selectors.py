"""Reads of settlement, scoped to the caller: the platform sees all, parties their own."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from marketplace.accounts.models import User
from marketplace.common.permissions import is_platform
from settlement.models import Settlement, SettlementStatus


def settlement_visible_to(*, user: User) -> QuerySet[Settlement]:
    qs = Settlement.objects.select_related("seller", "buyer", "transfer")
    if is_platform(user):
        return qs
    return qs.filter(Q(seller_id=user.organization_id) | Q(buyer_id=user.organization_id))


def settlements_past_due(*, now: dt.datetime) -> list[int]:
    """Ids of the settlements still awaiting payment after their due time, oldest due first."""
    return list(
        Settlement.objects.filter(status=SettlementStatus.AWAITING_PAYMENT, due_at__lt=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)
    )
