"""Reads of settlement, scoped to the caller: the platform sees all, parties their own."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from marketplace.accounts.models import User
from marketplace.common.permissions import is_platform
from settlement.models import Settlement


def settlement_visible_to(*, user: User) -> QuerySet[Settlement]:
    qs = Settlement.objects.select_related("seller", "buyer")
    if is_platform(user):
        return qs
    return qs.filter(Q(seller_id=user.organization_id) | Q(buyer_id=user.organization_id))
