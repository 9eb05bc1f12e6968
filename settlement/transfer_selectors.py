"""Reads of the transfer registry, scoped to the caller: the platform sees every transfer, the
seller and the buyer their own (API.md, "Settlements, ledger, transfers")."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from marketplace.accounts.models import User
from marketplace.common.permissions import is_platform
from settlement.models import Transfer


def transfer_visible_to(*, user: User) -> QuerySet[Transfer]:
    qs = Transfer.objects.select_related("seller", "buyer")
    if is_platform(user):
        return qs
    return qs.filter(Q(seller_id=user.organization_id) | Q(buyer_id=user.organization_id))
