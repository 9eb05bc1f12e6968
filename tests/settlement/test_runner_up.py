"""Offer to the runner-up (API.md "Settlements"): after a default, the seller offers the package
to the next-highest bidder still eligible, at its own bid, with a fresh deadline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bidding.models import PackageBar
from marketplace.accounts.models import Organization
from marketplace.audit.models import AuditEvent
from settlement.defaults import settlements_default_due
from settlement.errors import NoRunnerUp
from settlement.models import Settlement
from settlement.payments import settlement_confirm_payment
from settlement.runner_up import settlement_offer_runner_up
from settlement.transfers import loans_transfer
from tests.factories import AuctionFactory
from tests.settlement.conftest import make_overdue
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db


def url(settlement: Settlement) -> str:
    return f"/api/v1/settlements/{settlement.pk}/offer-runner-up/"


def default(settlement: Settlement) -> None:
    make_overdue(settlement)
    settlements_default_due()
    settlement.refresh_from_db()
    assert settlement.status == "defaulted"


@pytest.fixture
def defaulted(three_bidders):
    """The three-bidder sale, its winner (9.0M) defaulted."""
    default(three_bidders.settlement)
    return three_bidders


def test_the_seller_offers_the_package_to_the_runner_up_at_its_own_bid(defaulted, seller_client):
    runner_up = defaulted.bidders[1]  # bid 8.5M
    before = timezone.now()

    response = seller_client.post(url(defaulted.settlement), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    offer = Settlement.objects.get(pk=body["id"])
    assert body["runner_up_of"] == defaulted.settlement.pk
    assert body["buyer"]["id"] == runner_up.organization_id
    assert body["status"] == "awaiting_payment"
    assert (body["price"], body["deposit_applied"], body["balance_due"]) == (
        "8500000.00",
        "0.00",
        "8500000.00",
    )
    assert offer.auction_id == defaulted.auction.pk
    assert offer.bid.buyer_id == runner_up.organization_id
    window = dt.timedelta(hours=defaulted.auction.payment_window_hours)
    assert before + window <= offer.due_at <= timezone.now() + window
    defaulted.package.refresh_from_db()
    assert defaulted.package.status == "in_auction"
    [event] = AuditEvent.objects.filter(
        action="settlement.runner_up_offered", object_id=str(offer.pk)
    )
    assert event.data["runner_up_of"] == defaulted.settlement.pk
    assert event.data["price"] == "8500000.00"
    assert event.actor_user_id == seller_client.user.pk


def test_the_runner_up_pays_the_whole_price(defaulted, seller_user, compliance_user):
    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)

    settlement_confirm_payment(
        actor=compliance_user, settlement_id=offer.pk, amount="8500000.00", reference="R-2"
    )

    offer.refresh_from_db()
    assert offer.status == "paid"


def test_the_package_is_sold_to_the_runner_up_once_it_paid(defaulted, seller_user, compliance_user):
    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)
    settlement_confirm_payment(
        actor=compliance_user, settlement_id=offer.pk, amount="8500000.00", reference="R-3"
    )

    transfer = loans_transfer(settlement_id=offer.pk)

    assert transfer is not None
    assert transfer.buyer_id == defaulted.bidders[1].organization_id
    assert transfer.price == Decimal("8500000.00")
    defaulted.package.refresh_from_db()
    assert defaulted.package.status == "sold"


def test_buyers_no_longer_eligible_are_passed_over(defaulted, seller_user):
    Organization.objects.filter(pk=defaulted.bidders[1].organization_id).update(
        eligibility="suspended"
    )

    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)

    assert offer.buyer_id == defaulted.bidders[0].organization_id
    assert offer.price == Decimal("8000000.00")


def test_a_barred_buyer_is_passed_over(defaulted, seller_user):
    PackageBar.objects.create(
        package=defaulted.package, buyer_id=defaulted.bidders[1].organization_id, reason="test"
    )

    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)

    assert offer.buyer_id == defaulted.bidders[0].organization_id


def test_when_the_runner_up_defaults_too_the_next_one_is_offered(defaulted, seller_user):
    first = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)
    default(first)
    defaulted.package.refresh_from_db()
    assert defaulted.package.status == "approved"
    # Nothing was applied to the runner-up's price, so nothing is forfeited; it is barred.
    assert defaulted.registration_of(defaulted.bidders[1]).deposit_status == "released"
    assert PackageBar.objects.filter(buyer_id=first.buyer_id).exists()

    second = settlement_offer_runner_up(actor=seller_user, settlement_id=first.pk)

    assert second.buyer_id == defaulted.bidders[0].organization_id
    assert second.runner_up_of_id == first.pk
    default(second)
    with pytest.raises(NoRunnerUp):
        settlement_offer_runner_up(actor=seller_user, settlement_id=second.pk)


def test_no_runner_up_when_the_winner_was_the_only_bidder(sale, seller_client):
    alone = sale(["9000000.00"])
    default(alone.settlement)

    response = seller_client.post(url(alone.settlement), format="json")

    assert_problem(response, 409, "no_runner_up")
    alone.package.refresh_from_db()
    assert alone.package.status == "approved"
    assert Settlement.objects.filter(auction=alone.auction).count() == 1


def test_only_a_defaulted_settlement_is_offered_on(three_bidders, seller_client):
    response = seller_client.post(url(three_bidders.settlement), format="json")

    problem = assert_problem(response, 409, "invalid_state")
    assert problem["current_status"] == "awaiting_payment"


def test_a_defaulted_settlement_is_offered_on_once(defaulted, seller_user, seller_client):
    offer = settlement_offer_runner_up(actor=seller_user, settlement_id=defaulted.settlement.pk)
    default(offer)  # the package is approved again: only the offer's own default counts now

    response = seller_client.post(url(defaulted.settlement), format="json")

    assert_problem(response, 409, "invalid_state")


def test_not_once_the_package_is_auctioned_again(defaulted, seller_client):
    AuctionFactory(package=defaulted.package, state="open")

    response = seller_client.post(url(defaulted.settlement), format="json")

    problem = assert_problem(response, 409, "invalid_state")
    assert problem["current_status"] == "in_auction"


def test_not_after_a_later_auction_of_the_package_ended_without_sale(defaulted, seller_client):
    AuctionFactory(package=defaulted.package, state="no_sale")
    defaulted.package.refresh_from_db()
    assert defaulted.package.status == "approved"

    response = seller_client.post(url(defaulted.settlement), format="json")

    assert_problem(response, 409, "invalid_state")


def test_but_a_later_auction_cancelled_leaves_the_offer_open(defaulted, seller_client):
    AuctionFactory(package=defaulted.package, state="cancelled")

    response = seller_client.post(url(defaulted.settlement), format="json")

    assert response.status_code == 201, response.content


def test_only_the_seller_offers(defaulted, compliance_client, other_bank_client):
    defaulter = client_for(defaulted.bidders[-1])

    assert_problem(defaulter.post(url(defaulted.settlement)), 403, "permission_denied")
    assert_problem(compliance_client.post(url(defaulted.settlement)), 403, "permission_denied")
    assert_problem(other_bank_client.post(url(defaulted.settlement)), 404, "not_found")
    assert Settlement.objects.filter(auction=defaulted.auction).count() == 1


def test_a_repeat_with_the_same_idempotency_key_makes_one_offer(defaulted, seller_client):
    first = seller_client.post(url(defaulted.settlement), HTTP_IDEMPOTENCY_KEY="offer-1")
    second = seller_client.post(url(defaulted.settlement), HTTP_IDEMPOTENCY_KEY="offer-1")

    assert first.status_code == 201, first.content
    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Settlement.objects.filter(runner_up_of=defaulted.settlement).count() == 1
