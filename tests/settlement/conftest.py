"""Helpers of the settlement tests: a paid settlement of a package with chosen loans, and the
transfer digest recomputed from its definition (API.md), independently of the SQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal

from listings import services as listing_services
from listings.models import Package
from settlement.models import Settlement
from tests.factories import (
    AuctionFactory,
    LoanTapeImportFactory,
    demo_loan,
    platform_user,
    settlement_mark_paid,
)
from tests.support import CUT_OFF


def by_bytes(pair: tuple[str, Decimal]) -> bytes:
    return pair[0].encode("utf-8")


def digest_of(
    pairs: list[tuple[str, Decimal]], order: Callable[[tuple[str, Decimal]], object] = by_bytes
) -> str:
    """API.md's transfer digest, recomputed independently of the SQL that computes it."""
    ordered = sorted(pairs, key=order)
    text = "".join(f"{loan_id},{balance:.2f}\n" for loan_id, balance in ordered)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def paid_settlement_of(seller_user, loan_ids: list[str] | None = None) -> Settlement:
    """An awarded auction's settlement, paid. ``loan_ids``: the package's loans (else five)."""
    package = listing_services.package_create(
        actor=seller_user, title="Consumer loans, Jiangsu", currency="CNY", cut_off_date=CUT_OFF
    )
    ids = loan_ids or [f"CN-{n:06d}" for n in range(1, 6)]
    rows = [demo_loan(n, loan_id=loan_id) for n, loan_id in enumerate(ids, start=1)]
    tape = LoanTapeImportFactory(package=package, rows=rows)
    assert tape.status == "succeeded", tape.errors
    listing_services.package_submit(actor=seller_user, package_id=package.pk)
    listing_services.package_approve(actor=platform_user(), package_id=package.pk)
    auction = AuctionFactory(package=Package.objects.get(pk=package.pk), state="awarded")
    return settlement_mark_paid(Settlement.objects.get(auction=auction))
