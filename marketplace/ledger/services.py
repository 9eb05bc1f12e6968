"""Every write of the ledger: ``ledger_post`` appends one balanced transaction.

Callers outside the ledger use ``marketplace.ledger.movements`` (one function per money event);
only the chart of accounts there builds legs. Nothing here locks a shared row: accounts are
created once (get-or-create under their unique constraint) and never updated; balances are sums
of entries. Concurrent postings therefore never wait on each other, except two first postings
ever to the same account, which race once on its unique index (the loser reads the winner's row).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from marketplace.accounts.models import Organization
from marketplace.common.atomic import require_atomic
from marketplace.ledger.errors import UnbalancedPosting
from marketplace.ledger.models import Account, AccountKind, Entry, EntryKind


@dataclass(frozen=True)
class Leg:
    """One entry to post: ``amount`` signed, debit positive, credit negative."""

    organization_id: int
    account: AccountKind
    amount: Decimal


def platform_organization_id() -> int:
    """The platform operator's organisation (the first, if several): it owns platform_cash."""
    org_id = (
        Organization.objects.filter(kind="platform").order_by("pk").values_list("pk", flat=True)
    ).first()
    if org_id is None:
        raise RuntimeError("the ledger needs the platform organisation (manage.py bootstrap)")
    return org_id


def account_for(*, organization_id: int, kind: AccountKind, currency: str) -> Account:
    """The account of ``organization_id`` and ``kind``, created on first use. Safe under
    concurrency: the unique constraint decides, and ``get_or_create`` re-reads on conflict."""
    account, _ = Account.objects.get_or_create(
        organization_id=organization_id, kind=kind, currency=currency
    )
    return account


def posting_currency(
    *,
    currency: str | None = None,
    settlement_id: int | None = None,
    registration_id: int | None = None,
) -> str:
    """The currency a posting is made in: the one given, else the one already booked for the
    same registration or settlement, else ``settings.LEDGER_CURRENCY``."""
    if currency:
        return currency
    for field, value in (("registration_id", registration_id), ("settlement_id", settlement_id)):
        if value is not None:
            known = (
                Entry.objects.filter(**{field: value}).values_list("currency", flat=True).first()
            )
            if known:
                return known
    return str(settings.LEDGER_CURRENCY)


def balance_of(
    *,
    organization_id: int,
    account: AccountKind,
    settlement_id: int | None = None,
    registration_id: int | None = None,
) -> Decimal:
    """The signed balance of one organisation's account, optionally only the entries of one
    settlement or registration (what is still open for it)."""
    entries = Entry.objects.filter(organization_id=organization_id, account__kind=account)
    if settlement_id is not None:
        entries = entries.filter(settlement_id=settlement_id)
    if registration_id is not None:
        entries = entries.filter(registration_id=registration_id)
    total = entries.aggregate(total=Sum("amount"))["total"]
    return total if total is not None else Decimal(0)


def ledger_post(
    *,
    kind: EntryKind,
    legs: Sequence[Leg],
    currency: str,
    settlement_id: int | None = None,
    registration_id: int | None = None,
) -> uuid.UUID | None:
    """Append one transaction of ``legs`` (zero legs dropped) and return its id; None when
    nothing is left to post. Refuses (``UnbalancedPosting``) legs that do not sum to zero,
    before the database's deferred trigger would at commit. Runs in the caller's transaction."""
    require_atomic("ledger.ledger_post")
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return None
    total = sum((leg.amount for leg in legs), Decimal(0))
    if total != 0 or len(legs) < 2:
        raise UnbalancedPosting(
            f"{kind} entries sum to {total}, not zero.", extra={"legs": len(legs)}
        )
    transaction_id = uuid.uuid4()
    now = timezone.now()
    Entry.objects.bulk_create(
        Entry(
            transaction_id=transaction_id,
            account=account_for(
                organization_id=leg.organization_id, kind=leg.account, currency=currency
            ),
            organization_id=leg.organization_id,
            amount=leg.amount,
            kind=kind,
            settlement_id=settlement_id,
            registration_id=registration_id,
            currency=currency,
            created_at=now,
        )
        for leg in legs
    )
    return transaction_id
