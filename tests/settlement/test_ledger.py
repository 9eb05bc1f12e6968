"""Deposit and price arithmetic in the ledger through whole sales: the winner, the losers, a
cancel, a payment, a default and an offer to the runner-up (API.md "Settlements, ledger")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from bidding.services.closing import auction_cancel
from marketplace.ledger.models import AccountKind as A
from marketplace.ledger.models import Entry
from settlement.defaults import settlements_default_due
from settlement.payments import settlement_confirm_payment
from settlement.runner_up import settlement_offer_runner_up
from tests.factories import AuctionFactory, PackageFactory, RegistrationFactory
from tests.settlement.conftest import Sale, make_overdue

pytestmark = pytest.mark.django_db

ZERO = Decimal("0.00")


def balance(org_id: int, account: str) -> Decimal:
    total = Entry.objects.filter(organization_id=org_id, account__kind=account).aggregate(
        total=Sum("amount")
    )["total"]
    return total if total is not None else ZERO


def assert_every_transaction_balances() -> None:
    sums = Entry.objects.values("transaction_id").annotate(total=Sum("amount"))
    assert sums, "nothing was posted"
    assert {row["total"] for row in sums} == {ZERO}


def parties(sale: Sale) -> tuple[int, int, list[int]]:
    """(platform org, seller org, buyer orgs in bidding order)."""
    platform = Entry.objects.filter(account__kind=A.PLATFORM_CASH).values_list(
        "organization_id", flat=True
    )[0]
    return platform, sale.settlement.seller_id, [b.organization_id for b in sale.bidders]


def test_at_the_award_losers_get_their_deposits_back_and_the_winners_pays_part_of_the_price(
    three_bidders,
):
    platform, seller, (first, second, winner) = parties(three_bidders)

    assert balance(first, A.DEPOSITS_HELD) == ZERO
    assert balance(second, A.DEPOSITS_HELD) == ZERO
    assert balance(winner, A.DEPOSITS_HELD) == ZERO  # applied to the price
    assert balance(winner, A.SETTLEMENT_PAYABLE) == Decimal("8600000.00")  # 9.0M less 400k
    assert balance(seller, A.SELLER_PAYABLE) == Decimal("-9000000.00")
    assert balance(platform, A.PLATFORM_CASH) == Decimal("400000.00")  # the winner's deposit
    assert_every_transaction_balances()


def test_payment_settles_the_buyers_debt_into_escrow(three_bidders, compliance_user):
    platform, seller, (*_, winner) = parties(three_bidders)

    settlement_confirm_payment(
        actor=compliance_user,
        settlement_id=three_bidders.settlement.pk,
        amount="8600000.00",
        reference="R",
    )

    assert balance(winner, A.SETTLEMENT_PAYABLE) == ZERO
    assert balance(platform, A.PLATFORM_CASH) == Decimal("9000000.00")
    assert balance(seller, A.SELLER_PAYABLE) == Decimal("-9000000.00")  # paid out on transfer
    [entry] = Entry.objects.filter(kind="payment_received", organization_id=winner)
    assert entry.amount == Decimal("-8600000.00")
    assert entry.settlement_id == three_bidders.settlement.pk
    assert_every_transaction_balances()


def test_a_balance_due_of_zero_posts_no_payment(sale, compliance_user):
    covered = sale(["9000000.00"], deposit_amount=Decimal("9000000.00"))

    settlement_confirm_payment(
        actor=compliance_user, settlement_id=covered.settlement.pk, amount="0", reference="R"
    )

    assert not Entry.objects.filter(kind="payment_received").exists()
    assert balance(covered.settlement.buyer_id, A.SETTLEMENT_PAYABLE) == ZERO


def test_a_cancel_releases_every_held_deposit(seller_user, compliance_user, tape_storage):
    package = PackageFactory(created_by=seller_user, status="approved")
    auction = AuctionFactory(package=package, state="open", deposit_amount=Decimal("250000.00"))
    registrations = [RegistrationFactory(auction=auction) for _ in range(2)]

    auction_cancel(actor=seller_user, auction_id=auction.pk, reason="withdrawn")

    for registration in registrations:
        assert balance(registration.buyer_id, A.DEPOSITS_HELD) == ZERO
        released = Entry.objects.get(
            kind="deposit_released",
            registration_id=registration.pk,
            organization_id=registration.buyer_id,
        )
        assert released.amount == Decimal("250000.00")
    assert balance(compliance_user.organization_id, A.PLATFORM_CASH) == ZERO
    assert_every_transaction_balances()


def test_a_default_forfeits_the_deposit_to_the_seller_and_voids_the_sale(three_bidders):
    platform, seller, (*_, winner) = parties(three_bidders)
    make_overdue(three_bidders.settlement)

    settlements_default_due()

    assert balance(winner, A.DEPOSITS_HELD) == ZERO
    assert balance(winner, A.SETTLEMENT_PAYABLE) == ZERO  # the debt is void
    assert balance(seller, A.SELLER_PAYABLE) == ZERO  # and so is the claim
    assert balance(seller, A.FORFEITED) == Decimal("-400000.00")  # owed the deposit
    assert balance(platform, A.PLATFORM_CASH) == Decimal("400000.00")  # which escrow holds
    assert_every_transaction_balances()


def test_an_offer_to_the_runner_up_falls_due_in_full_and_its_default_voids_it(
    three_bidders, seller_user
):
    platform, seller, (_, runner_up, _) = parties(three_bidders)
    make_overdue(three_bidders.settlement)
    settlements_default_due()

    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=three_bidders.settlement.pk)

    assert balance(runner_up, A.SETTLEMENT_PAYABLE) == Decimal("8500000.00")
    assert balance(seller, A.SELLER_PAYABLE) == Decimal("-8500000.00")
    [due] = Entry.objects.filter(kind="settlement_due", settlement_id=offer.pk, amount__gt=0)
    assert due.currency == three_bidders.package.currency

    make_overdue(offer)
    settlements_default_due()

    assert balance(runner_up, A.SETTLEMENT_PAYABLE) == ZERO
    assert balance(runner_up, A.DEPOSITS_HELD) == ZERO  # released at the close, not forfeited
    assert balance(seller, A.SELLER_PAYABLE) == ZERO
    assert balance(seller, A.FORFEITED) == Decimal("-400000.00")  # the first default's only
    assert balance(platform, A.PLATFORM_CASH) == Decimal("400000.00")
    assert_every_transaction_balances()
