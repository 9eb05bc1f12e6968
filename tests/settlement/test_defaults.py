"""Deadlines and defaults (API.md "Settlements"): unpaid past ``due_at``, a settlement is
defaulted by the beat sweep; the deposit is forfeited to the seller, the buyer barred from the
package, the package back to ``approved``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from bidding.models import PackageBar
from marketplace.audit.models import AuditEvent
from settlement.defaults import settlement_default, settlements_default_due
from settlement.payments import settlement_confirm_payment
from settlement.tasks import default_sweep
from tests.factories import AuctionFactory
from tests.settlement.conftest import make_overdue
from tests.support import assert_problem, client_for

pytestmark = pytest.mark.django_db


def events(action: str, object_type: str, object_id: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=action, object_type=object_type, object_id=str(object_id))
    )


def test_an_overdue_settlement_is_defaulted_the_deposit_forfeited_the_buyer_barred(
    three_bidders,
):
    sale = three_bidders
    winner = sale.bidders[-1]
    make_overdue(sale.settlement)

    assert settlements_default_due() == 1

    sale.settlement.refresh_from_db()
    sale.package.refresh_from_db()
    assert sale.settlement.status == "defaulted"
    assert sale.package.status == "approved"  # the seller may auction it again
    assert sale.registration_of(winner).deposit_status == "forfeited"
    assert [r.deposit_status for r in map(sale.registration_of, sale.bidders[:-1])] == [
        "released",
        "released",
    ]
    assert PackageBar.objects.filter(package=sale.package, buyer_id=winner.organization_id).exists()
    [defaulted] = events("settlement.defaulted", "settlement", sale.settlement.pk)
    assert defaulted.data["deposit_forfeited"] == "400000.00"
    assert defaulted.actor_user_id is None  # the clock, not a person
    [forfeited] = events("deposit.forfeited", "auction", sale.auction.pk)
    assert forfeited.data == {
        "registration_id": sale.registration_of(winner).pk,
        "buyer_id": winner.organization_id,
        "seller_id": sale.settlement.seller_id,
        "amount": "400000.00",
        "settlement_id": sale.settlement.pk,
    }
    [back] = events("package.return_to_market", "package", sale.package.pk)
    assert back.data["reason"] == "default"


def test_a_settlement_not_yet_due_or_already_paid_is_left_alone(
    sale, three_bidders, compliance_user
):
    paid = sale(["9000000.00"])
    settlement_confirm_payment(
        actor=compliance_user, settlement_id=paid.settlement.pk, amount="8600000.00", reference="R"
    )
    make_overdue(paid.settlement)

    assert settlements_default_due() == 0

    three_bidders.settlement.refresh_from_db()
    paid.settlement.refresh_from_db()
    assert three_bidders.settlement.status == "awaiting_payment"
    assert paid.settlement.status == "paid"
    assert not PackageBar.objects.exists()


def test_a_second_sweep_and_a_late_default_of_the_same_settlement_do_nothing(three_bidders):
    make_overdue(three_bidders.settlement)
    assert settlements_default_due() == 1

    assert settlements_default_due() == 0
    assert settlement_default(settlement_id=three_bidders.settlement.pk) is False
    assert len(events("settlement.defaulted", "settlement", three_bidders.settlement.pk)) == 1
    assert PackageBar.objects.count() == 1


def test_a_payment_window_of_zero_hours_is_due_at_the_award(sale):
    immediate = sale(["9000000.00"], payment_window_hours=0)
    assert immediate.settlement.due_at == immediate.auction.closed_at

    assert settlements_default_due() == 1

    immediate.settlement.refresh_from_db()
    assert immediate.settlement.status == "defaulted"


def test_the_payment_window_runs_from_the_close(three_bidders):
    settlement, auction = three_bidders.settlement, three_bidders.auction
    assert settlement.due_at == auction.closed_at + dt.timedelta(hours=72)
    assert settlement.due_at > timezone.now()


def test_a_defaulted_settlement_can_no_longer_be_paid(three_bidders, compliance_client):
    make_overdue(three_bidders.settlement)
    settlements_default_due()

    response = compliance_client.post(
        f"/api/v1/settlements/{three_bidders.settlement.pk}/confirm-payment/",
        {"amount": "8600000.00", "reference": "late"},
        format="json",
    )

    problem = assert_problem(response, 409, "invalid_state")
    assert problem["current_status"] == "defaulted"


def test_a_barred_buyer_may_not_register_on_a_new_auction_of_the_package(three_bidders):
    sale = three_bidders
    make_overdue(sale.settlement)
    settlements_default_due()
    relisted = AuctionFactory(package=sale.package, state="open")
    defaulter, loser = client_for(sale.bidders[-1]), client_for(sale.bidders[0])
    url = f"/api/v1/auctions/{relisted.pk}/registrations/"

    refused = defaulter.post(url, {"accept_nda": True}, format="json")
    accepted = loser.post(url, {"accept_nda": True}, format="json")

    assert_problem(refused, 403, "buyer_not_eligible")
    assert accepted.status_code == 201, accepted.content


def test_the_sweep_is_a_beat_task(three_bidders):
    schedule = settings.CELERY_BEAT_SCHEDULE["default-overdue-settlements"]
    assert schedule["task"] == "settlement.default_sweep"
    make_overdue(three_bidders.settlement)

    assert default_sweep() == 1


def test_the_forfeited_amount_is_the_deposit_applied(sale):
    small = sale(["9000000.00"], deposit_amount=Decimal("123456.78"))
    make_overdue(small.settlement)

    settlements_default_due()

    [event] = events("settlement.defaulted", "settlement", small.settlement.pk)
    assert event.data["deposit_forfeited"] == "123456.78"
    assert small.settlement.deposit_applied == Decimal("123456.78")
