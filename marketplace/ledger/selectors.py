"""Reads of the ledger, scoped to the caller: the platform sees every organisation's accounts,
any other organisation only its own."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, Sum

from marketplace.accounts.models import User
from marketplace.common.permissions import is_platform
from marketplace.ledger.models import Entry


def entry_visible_to(*, user: User) -> QuerySet[Entry]:
    entries = Entry.objects.select_related("account")
    if is_platform(user):
        return entries
    if user.organization_id is None:
        return entries.none()
    return entries.filter(organization_id=user.organization_id)


def balance_list(*, entries: QuerySet[Entry]) -> list[dict[str, Any]]:
    """``[{organization, account, currency, balance}]`` over ``entries`` (already scoped and
    filtered): the signed sum of each account's entries, debit positive, ordered by
    organisation and account kind."""
    rows = (
        entries.order_by()
        .values("organization_id", "account__kind", "currency")
        .annotate(balance=Sum("amount"))
        .order_by("organization_id", "account__kind", "currency")
    )
    return [
        {
            "organization": row["organization_id"],
            "account": row["account__kind"],
            "currency": row["currency"],
            "balance": row["balance"],
        }
        for row in rows
    ]
