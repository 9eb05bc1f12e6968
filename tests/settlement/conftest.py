"""Fixtures and helpers of the settlement tests.

Sales are closed through the product's own close (bidding's services, then
``close_and_settle``), with several bidders where a runner-up is needed; a paid settlement of a
package with chosen loans; the transfer digest recomputed from its definition (API.md),
independently of the SQL. Time is moved in the database (``due_at``, the auction's end), never
by mocking the clock. The transfer task is sent by name after commit; ``sent_tasks`` records it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from bidding.models import Auction, Registration
from listings import services as listing_services
from listings.models import Package
from marketplace.accounts.models import User
from marketplace.outbox import relay as outbox_relay
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import (
    AuctionFactory,
    BidFactory,
    LoanTapeImportFactory,
    PackageFactory,
    RegistrationFactory,
    demo_loan,
    make_bidder,
    platform_user,
    settlement_mark_paid,
)
from tests.support import CUT_OFF, end_auction

DEPOSIT = Decimal("400000.00")
RESERVE = Decimal("9000000.00")


# --------------------------------------------------------------------------- sales


@dataclass
class Sale:
    """An awarded auction: its bidders in bidding order, their registrations, the settlement."""

    auction: Auction
    package: Package
    bidders: list[User]
    registrations: list[Registration]
    settlement: Settlement

    def registration_of(self, user: User) -> Registration:
        return Registration.objects.get(auction=self.auction, buyer_id=user.organization_id)


@pytest.fixture
def sale(seller_user, compliance_user, tape_storage):
    """``sale(amounts, **terms)``: a new approved package of the seller's bank auctioned
    (English, deposit 400,000.00, reserve 9,000,000.00 unless ``terms`` say otherwise), one
    new approved buyer per amount bidding it in that order, closed and awarded to the last."""

    def make(amounts: list[str], **terms) -> Sale:
        package = PackageFactory(created_by=seller_user, status="approved")
        terms = {"deposit_amount": DEPOSIT, "reserve_price": RESERVE, **terms}
        auction = AuctionFactory(package=package, state="open", **terms)
        bidders = [make_bidder() for _ in amounts]
        registrations = [RegistrationFactory(auction=auction, registered_by=b) for b in bidders]
        for registration, amount in zip(registrations, amounts, strict=True):
            BidFactory(registration=registration, amount=Decimal(amount))
        end_auction(auction)
        close_and_settle(auction.pk)
        auction.refresh_from_db()
        package.refresh_from_db()
        settlement = Settlement.objects.get(auction=auction)
        return Sale(auction, package, bidders, registrations, settlement)

    return make


@pytest.fixture
def three_bidders(sale) -> Sale:
    """Bids of 8.0M, 8.5M and 9.0M by three buyers: awarded to the third at 9,000,000.00."""
    return sale(["8000000.00", "8500000.00", "9000000.00"])


def make_overdue(settlement: Settlement, *, by: dt.timedelta = dt.timedelta(minutes=1)) -> None:
    """Move the settlement's due time into the past, as if its payment window had run out."""
    Settlement.objects.filter(pk=settlement.pk).update(due_at=timezone.now() - by)


@pytest.fixture
def sent_tasks(monkeypatch):
    """Record, instead of sending, the tasks settlement sends by name after commit."""
    sent: list[tuple[str, list]] = []

    class Recorder:
        def send_task(self, name, args=None, **kwargs):
            sent.append((name, list(args or [])))

    # They leave through the task outbox's publisher (the on-commit kick or the relay).
    monkeypatch.setattr(outbox_relay, "current_app", Recorder())
    return sent


# --------------------------------------------------------------------------- transfers


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
