"""Verification of the ledger (DESIGN.md invariant 4), for ``manage.py verify_ledger`` and
``GET /api/v1/ledger/verify/``.

Three checks, each reporting the first problem it finds:
1. every transaction has at least two entries, one currency, and sums to zero;
2. every seller's ``seller_paid`` clearing account nets to zero (no half-booked payout);
3. every registration's deposit state matches its ledger balance: a deposit ``held`` is in the
   buyer's ``deposits_held`` for that registration; released, applied or forfeited nets to zero.

The ledger imports no domain app: what each registration's deposit should be comes from the
``deposit_expectations()`` function of any installed app's ``ledger_checks`` module (bidding
has one), found the way the code registry finds ``codes`` modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Count, Min, Q, Sum

from marketplace.ledger.models import AccountKind, Entry


@dataclass(frozen=True)
class DepositExpectation:
    """What the ledger should hold for one registration's deposit, according to its app."""

    registration_id: int
    buyer_id: int
    status: str
    held: Decimal  # the amount deposits_held should still hold for it (0 unless held)


@dataclass
class LedgerVerifyResult:
    valid: bool = True
    transactions_checked: int = 0
    registrations_checked: int = 0
    first_invalid: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "valid": self.valid,
            "transactions_checked": self.transactions_checked,
            "registrations_checked": self.registrations_checked,
        }
        if self.first_invalid:
            out["first_invalid"] = self.first_invalid
        return out

    def fail(self, **problem: Any) -> LedgerVerifyResult:
        self.valid = False
        self.first_invalid = problem
        return self


def expectation_providers() -> list[Callable[[], Iterable[DepositExpectation]]]:
    """``deposit_expectations`` of every installed app's ``ledger_checks`` module."""
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.ledger_checks"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.deposit_expectations)
    return found


def _first_unbalanced(result: LedgerVerifyResult) -> LedgerVerifyResult | None:
    per_txn = Entry.objects.values("transaction_id").annotate(
        total=Sum("amount"), legs=Count("id"), currencies=Count("currency", distinct=True)
    )
    result.transactions_checked = per_txn.count()
    bad = (
        per_txn.filter(~Q(total=0) | Q(legs__lt=2) | Q(currencies__gt=1))
        .annotate(first_id=Min("id"))
        .order_by("first_id")
        .first()
    )
    if bad is None:
        return None
    return result.fail(
        check="transaction_balanced",
        transaction_id=str(bad["transaction_id"]),
        reason=f"{bad['legs']} entries in {bad['currencies']} currencies sum to {bad['total']}",
    )


def _first_open_payout(result: LedgerVerifyResult) -> LedgerVerifyResult | None:
    bad = (
        Entry.objects.filter(account__kind=AccountKind.SELLER_PAID)
        .values("organization_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("organization_id")
        .first()
    )
    if bad is None:
        return None
    return result.fail(
        check="payout_cleared",
        organization_id=bad["organization_id"],
        reason=f"seller_paid holds {bad['total']} {bad['currency']} (a half-booked payout)",
    )


def _ledger_held() -> dict[int, Decimal]:
    """Registration id -> what deposits_held holds for it (credit balance, as a positive sum)."""
    rows = (
        Entry.objects.filter(account__kind=AccountKind.DEPOSITS_HELD, registration_id__isnull=False)
        .values("registration_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    return {row["registration_id"]: -row["total"] for row in rows if row["registration_id"]}


def _expectations() -> Iterator[DepositExpectation]:
    for provider in expectation_providers():
        yield from provider()


def _first_deposit_mismatch(result: LedgerVerifyResult) -> LedgerVerifyResult | None:
    held = _ledger_held()
    for expected in _expectations():
        result.registrations_checked += 1
        actual = held.pop(expected.registration_id, Decimal(0))
        if actual != expected.held:
            return result.fail(
                check="deposit_matches",
                registration_id=expected.registration_id,
                reason=(
                    f"deposit is {expected.status} ({expected.held} expected held), "
                    f"deposits_held has {actual}"
                ),
            )
    if held:  # held for a registration no app knows
        registration_id = min(held)
        return result.fail(
            check="deposit_matches",
            registration_id=registration_id,
            reason=f"deposits_held has {held[registration_id]} for an unknown registration",
        )
    return None


def ledger_verify() -> LedgerVerifyResult:
    """Run every check in order; the first problem found makes the result invalid."""
    result = LedgerVerifyResult()
    for check in (_first_unbalanced, _first_open_payout, _first_deposit_mismatch):
        failed = check(result)
        if failed is not None:
            return failed
    return result
