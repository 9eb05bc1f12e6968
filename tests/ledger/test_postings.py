"""Bidding and settlement post every money movement they make: a confirmed deposit is held, a
loser's (or a cancelled auction's) deposit released, the winner's applied to the price that
falls due at the settlement's opening."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bidding.services.closing import auction_cancel
from marketplace.ledger.models import AccountKind as A
from marketplace.ledger.models import Entry, EntryKind
from marketplace.ledger.services import balance_of
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import BidFactory, RegistrationFactory
from tests.support import end_auction

pytestmark = pytest.mark.django_db

DEPOSIT = Decimal("400000.00")


def held(registration) -> Decimal:
    return -balance_of(
        organization_id=registration.buyer_id,
        account=A.DEPOSITS_HELD,
        registration_id=registration.pk,
    )


def test_a_confirmed_deposit_is_held_in_the_ledger(auction_open):
    registration = RegistrationFactory(auction=auction_open)

    assert held(registration) == DEPOSIT
    entry = Entry.objects.get(registration_id=registration.pk, account__kind=A.DEPOSITS_HELD)
    assert (entry.kind, entry.amount, entry.currency) == (EntryKind.DEPOSIT_HELD, -DEPOSIT, "CNY")


def test_an_unconfirmed_registration_posts_nothing(auction_open):
    registration = RegistrationFactory(auction=auction_open, confirmed=False)

    assert not Entry.objects.filter(registration_id=registration.pk).exists()


def test_close_releases_the_loser_and_applies_the_winners_deposit(auction_open, seller_user):
    winner = RegistrationFactory(auction=auction_open)
    loser = RegistrationFactory(auction=auction_open)
    BidFactory(registration=loser, amount=Decimal("9000000.00"))
    BidFactory(registration=winner, amount=Decimal("9100000.00"))
    end_auction(auction_open)

    close_and_settle(auction_open.pk)

    settlement = Settlement.objects.get(auction=auction_open)
    assert held(winner) == held(loser) == 0
    assert (
        Entry.objects.get(
            registration_id=loser.pk, kind=EntryKind.DEPOSIT_RELEASED, account__kind=A.DEPOSITS_HELD
        ).amount
        == DEPOSIT
    )
    assert (
        Entry.objects.get(
            registration_id=winner.pk, kind=EntryKind.DEPOSIT_APPLIED, account__kind=A.DEPOSITS_HELD
        ).amount
        == DEPOSIT
    )
    # What the buyer still owes is the settlement's balance due; the seller is owed the price.
    owed = balance_of(
        organization_id=winner.buyer_id,
        account=A.SETTLEMENT_PAYABLE,
        settlement_id=settlement.pk,
    )
    assert owed == settlement.balance_due == Decimal("8700000.00")
    assert (
        balance_of(organization_id=seller_user.organization_id, account=A.SELLER_PAYABLE)
        == -settlement.price
    )


def test_closing_twice_posts_once(auction_open):
    winner = RegistrationFactory(auction=auction_open)
    BidFactory(registration=winner, amount=Decimal("9000000.00"))
    end_auction(auction_open)

    close_and_settle(auction_open.pk)
    close_and_settle(auction_open.pk)

    assert Entry.objects.filter(kind=EntryKind.SETTLEMENT_DUE).count() == 2  # one transaction
    assert Entry.objects.filter(kind=EntryKind.DEPOSIT_APPLIED).count() == 2


def test_a_deposit_above_the_price_is_applied_up_to_the_price_and_the_rest_released(
    auction_in_state,
):
    auction = auction_in_state(
        "open",
        starting_price=Decimal("100000.00"),
        reserve_price=Decimal("100000.00"),
        deposit_amount=Decimal("150000.00"),
    )
    winner = RegistrationFactory(auction=auction)
    BidFactory(registration=winner, amount=Decimal("100000.00"))
    end_auction(auction)

    close_and_settle(auction.pk)

    assert held(winner) == 0
    kinds = dict(
        Entry.objects.filter(registration_id=winner.pk, account__kind=A.DEPOSITS_HELD).values_list(
            "kind", "amount"
        )
    )
    assert kinds == {
        EntryKind.DEPOSIT_HELD: Decimal("-150000.00"),
        EntryKind.DEPOSIT_APPLIED: Decimal("100000.00"),
        EntryKind.DEPOSIT_RELEASED: Decimal("50000.00"),
    }


def test_cancel_releases_every_held_deposit(auction_open, seller_user):
    first = RegistrationFactory(auction=auction_open)
    second = RegistrationFactory(auction=auction_open)

    auction_cancel(actor=seller_user, auction_id=auction_open.pk, reason="withdrawn")

    assert held(first) == held(second) == 0
    assert Entry.objects.filter(kind=EntryKind.DEPOSIT_RELEASED).count() == 4
