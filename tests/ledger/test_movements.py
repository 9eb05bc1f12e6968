"""The chart of accounts: each money event posts one balanced transaction to the right accounts,
refuses bad amounts, and runs only inside its caller's transaction."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum

from marketplace.common.errors import InvalidValue
from marketplace.ledger import movements
from marketplace.ledger.errors import UnbalancedPosting
from marketplace.ledger.models import AccountKind as A
from marketplace.ledger.models import Entry, EntryKind
from marketplace.ledger.services import Leg, balance_of, ledger_post
from tests.factories import OrganizationFactory


@pytest.fixture
def parties(platform_org):  # platform_org needs the db
    buyer = OrganizationFactory(kind="buyer", eligibility="approved")
    seller = OrganizationFactory(kind="bank", eligibility="approved")
    return platform_org, buyer, seller


def balances(*orgs) -> dict[tuple[int, str], Decimal]:
    rows = (
        Entry.objects.filter(organization__in=orgs)
        .values("organization_id", "account__kind")
        .annotate(total=Sum("amount"))
    )
    return {(r["organization_id"], r["account__kind"]): r["total"] for r in rows if r["total"]}


def entries_of(txn) -> set[tuple[int, str, Decimal]]:
    return {
        (e.organization_id, e.account.kind, e.amount)
        for e in Entry.objects.filter(transaction_id=txn).select_related("account")
    }


@transaction.atomic
def _sale(buyer, seller, *, deposit, price, settlement_id=7, registration_id=70):
    movements.deposit_held(buyer_id=buyer.pk, amount=deposit, registration_id=registration_id)
    movements.settlement_due(
        buyer_id=buyer.pk, seller_id=seller.pk, price=price, settlement_id=settlement_id
    )
    movements.deposit_applied(
        buyer_id=buyer.pk,
        amount=deposit,
        registration_id=registration_id,
        settlement_id=settlement_id,
    )


def test_deposit_held_debits_platform_cash_and_credits_the_buyers_deposits(parties):
    platform, buyer, _ = parties
    with transaction.atomic():
        txn = movements.deposit_held(buyer_id=buyer.pk, amount=Decimal("400.00"), registration_id=1)

    assert entries_of(txn) == {
        (platform.pk, A.PLATFORM_CASH, Decimal("400.00")),
        (buyer.pk, A.DEPOSITS_HELD, Decimal("-400.00")),
    }
    assert set(Entry.objects.filter(transaction_id=txn).values_list("kind", flat=True)) == {
        EntryKind.DEPOSIT_HELD
    }
    assert Entry.objects.filter(transaction_id=txn).first().currency == "CNY"


def test_a_whole_sale_nets_every_payable_to_zero(parties):
    platform, buyer, seller = parties
    _sale(buyer, seller, deposit=Decimal("400.00"), price=Decimal("9000.00"))

    with transaction.atomic():
        movements.payment_received(buyer_id=buyer.pk, amount=Decimal("8600.00"), settlement_id=7)
        payout = movements.seller_payout(
            seller_id=seller.pk, amount=Decimal("9000.00"), settlement_id=7
        )

    assert balances(platform, buyer, seller) == {}  # every account back to zero
    assert Entry.objects.filter(transaction_id=payout).count() == 4
    assert Entry.objects.filter(
        transaction_id=payout, account__kind=A.SELLER_PAID, amount__lt=0
    ).get().amount == Decimal("-9000.00")


def test_a_loser_gets_the_whole_deposit_back(parties):
    platform, buyer, _ = parties
    with transaction.atomic():
        movements.deposit_held(buyer_id=buyer.pk, amount=Decimal("400.00"), registration_id=3)
        movements.deposit_released(buyer_id=buyer.pk, amount=Decimal("400.00"), registration_id=3)

    assert balances(platform, buyer) == {}


def test_a_default_forfeits_the_applied_deposit_to_the_seller_and_voids_the_sale(parties):
    platform, buyer, seller = parties
    _sale(buyer, seller, deposit=Decimal("400.00"), price=Decimal("9000.00"))

    with transaction.atomic():
        txn = movements.deposit_forfeited(
            buyer_id=buyer.pk,
            seller_id=seller.pk,
            amount=Decimal("400.00"),
            registration_id=70,
            settlement_id=7,
        )

    assert entries_of(txn) == {
        (buyer.pk, A.SETTLEMENT_PAYABLE, Decimal("-8600.00")),
        (seller.pk, A.SELLER_PAYABLE, Decimal("9000.00")),
        (seller.pk, A.FORFEITED, Decimal("-400.00")),
    }
    assert balances(platform, buyer, seller) == {
        (platform.pk, A.PLATFORM_CASH): Decimal("400.00"),
        (seller.pk, A.FORFEITED): Decimal("-400.00"),
    }


def test_a_held_deposit_is_forfeited_without_a_settlement(parties):
    _, buyer, seller = parties
    with transaction.atomic():
        movements.deposit_held(buyer_id=buyer.pk, amount=Decimal("50.00"), registration_id=5)
        movements.deposit_forfeited(
            buyer_id=buyer.pk,
            seller_id=seller.pk,
            amount=Decimal("50.00"),
            registration_id=5,
            settlement_id=None,
        )

    assert balances(buyer) == {}
    assert balances(seller) == {(seller.pk, A.FORFEITED): Decimal("-50.00")}


def test_forfeiting_more_than_the_deposit_is_refused(parties):
    _, buyer, seller = parties
    _sale(buyer, seller, deposit=Decimal("400.00"), price=Decimal("9000.00"))

    with pytest.raises(UnbalancedPosting), transaction.atomic():
        movements.deposit_forfeited(
            buyer_id=buyer.pk,
            seller_id=seller.pk,
            amount=Decimal("401.00"),
            registration_id=70,
            settlement_id=7,
        )

    assert not Entry.objects.filter(kind=EntryKind.DEPOSIT_FORFEITED).exists()


def test_a_zero_amount_posts_nothing(parties):
    _, buyer, _ = parties
    with transaction.atomic():
        txn = movements.deposit_held(buyer_id=buyer.pk, amount=Decimal("0.00"), registration_id=1)

    assert txn is None
    assert not Entry.objects.exists()


@pytest.mark.parametrize("amount", [Decimal("-1.00"), Decimal("0.001"), Decimal("NaN"), 1.5])
def test_bad_amounts_are_refused(parties, amount):
    _, buyer, _ = parties
    with pytest.raises(InvalidValue), transaction.atomic():
        movements.deposit_held(buyer_id=buyer.pk, amount=amount, registration_id=1)

    assert not Entry.objects.exists()


@pytest.mark.parametrize(
    "call",
    [
        lambda: movements.deposit_held(buyer_id=1, amount=Decimal("1.00"), registration_id=1),
        lambda: movements.seller_payout(seller_id=1, amount=Decimal("1.00"), settlement_id=1),
        lambda: ledger_post(kind=EntryKind.DEPOSIT_HELD, legs=[], currency="CNY"),
    ],
    ids=["deposit_held", "seller_payout", "ledger_post"],
)
def test_postings_refuse_to_run_outside_a_transaction(call):
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic\(\)"):
        call()


def test_ledger_post_refuses_unbalanced_legs_itself(parties):
    platform, buyer, _ = parties
    with pytest.raises(UnbalancedPosting), transaction.atomic():
        ledger_post(
            kind=EntryKind.DEPOSIT_HELD,
            legs=[
                Leg(platform.pk, A.PLATFORM_CASH, Decimal("10.00")),
                Leg(buyer.pk, A.DEPOSITS_HELD, Decimal("-9.00")),
            ],
            currency="CNY",
        )

    assert not Entry.objects.exists()


def test_later_postings_inherit_the_currency_of_the_first(parties):
    _, buyer, _ = parties
    with transaction.atomic():
        movements.deposit_held(
            buyer_id=buyer.pk, amount=Decimal("10.00"), registration_id=9, currency="USD"
        )
        txn = movements.deposit_released(
            buyer_id=buyer.pk, amount=Decimal("10.00"), registration_id=9
        )

    assert set(Entry.objects.filter(transaction_id=txn).values_list("currency", flat=True)) == {
        "USD"
    }
    assert balance_of(organization_id=buyer.pk, account=A.DEPOSITS_HELD) == 0


def test_a_default_without_deposit_still_voids_the_sale(parties):
    platform, buyer, seller = parties
    with transaction.atomic():
        movements.settlement_due(
            buyer_id=buyer.pk, seller_id=seller.pk, price=Decimal("700.00"), settlement_id=8
        )
        txn = movements.deposit_forfeited(
            buyer_id=buyer.pk,
            seller_id=seller.pk,
            amount=Decimal("0.00"),
            registration_id=80,
            settlement_id=8,
        )

    assert txn is not None
    assert balances(platform, buyer, seller) == {}
