"""Close, award, no sale and cancel (API.md "Auctions", DESIGN.md Invariant 3), through the close
entry point ``settlement.tasks.close_and_settle`` that the Celery task and the sweeper run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bidding.models import Auction, Registration
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from listings.models import Package
from marketplace.audit.models import AuditEvent
from marketplace.celery import app as celery_app
from settlement.models import Settlement
from settlement.tasks import auction_close, auction_close_sweep, close_and_settle
from tests.bidding.conftest import (
    DEPOSIT,
    actions_of,
    assert_problem,
    auction_url,
    end_auction,
    make_auction,
    make_bidder,
    post_bid,
    register,
)
from tests.conftest import client_for
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def bid(user, auction, amount) -> None:
    bid_place(actor=user, auction_id=auction.pk, amount=Decimal(amount))


def deposit_statuses(auction) -> dict[int, str]:
    return dict(
        Registration.objects.filter(auction=auction).values_list("buyer_id", "deposit_status")
    )


def released_buyers(auction) -> list[int]:
    return sorted(e.data["buyer_id"] for e in actions_of(auction, "deposit.released"))


def package_status(auction) -> str:
    return Package.objects.values_list("status", flat=True).get(pk=auction.package_id)


# --------------------------------------------------------------------------- outcomes


def test_award_opens_exactly_one_settlement(english_auction, english_bidders, registered_bidder):
    alpha, beta, gamma = english_bidders  # gamma registers and pays a deposit but never bids
    unconfirmed = registered_bidder(english_auction, confirmed=False)
    bid(alpha, english_auction, "1100000.00")
    bid(beta, english_auction, "1200000.00")
    end_auction(english_auction)

    assert close_and_settle(english_auction.pk) == "awarded"

    english_auction.refresh_from_db()
    assert english_auction.status == "closed" and english_auction.outcome == "awarded"
    assert english_auction.winner_id == beta.organization_id
    assert english_auction.winning_bid.amount == Decimal("1200000.00")
    assert english_auction.closed_at >= english_auction.ends_at
    [settlement] = Settlement.objects.filter(auction=english_auction)
    assert settlement.buyer_id == beta.organization_id
    assert settlement.seller_id == english_auction.seller_id
    assert settlement.package_id == english_auction.package_id
    assert settlement.bid_id == english_auction.winning_bid_id
    assert settlement.price == Decimal("1200000.00")
    assert settlement.deposit_applied == DEPOSIT
    assert settlement.balance_due == Decimal("1150000.00")
    assert settlement.due_at == english_auction.closed_at + dt.timedelta(hours=72)
    assert settlement.status == "awaiting_payment"
    assert deposit_statuses(english_auction) == {
        alpha.organization_id: "released",
        beta.organization_id: "applied",
        gamma.organization_id: "released",
        unconfirmed.organization_id: "none",  # no deposit was ever held
    }
    assert released_buyers(english_auction) == sorted(
        [alpha.organization_id, gamma.organization_id]
    )
    [applied] = actions_of(english_auction, "deposit.applied")
    assert applied.data["buyer_id"] == beta.organization_id
    [closed] = actions_of(english_auction, "auction.closed")
    assert closed.data["outcome"] == "awarded" and closed.data["price"] == "1200000.00"
    assert closed.data["winner_id"] == beta.organization_id
    created = AuditEvent.objects.filter(action="settlement.created")
    assert [e.object_id for e in created] == [str(settlement.pk)]
    assert created[0].data["balance_due"] == "1150000.00"
    assert package_status(english_auction) == "in_auction"  # sold when the settlement completes

    # Running the close again (a retried or duplicated message) changes nothing.
    assert close_and_settle(english_auction.pk) == "awarded"
    assert Settlement.objects.filter(auction=english_auction).count() == 1
    assert len(actions_of(english_auction, "auction.closed")) == 1
    assert AuditEvent.objects.filter(action="settlement.created").count() == 1


def test_reserve_not_met_is_no_sale_and_the_package_can_be_relisted(
    english_auction, english_bidders, seller_user
):
    alpha, beta, _ = english_bidders
    bid(alpha, english_auction, "1000000.00")
    bid(beta, english_auction, "1090000.00")  # reserve is 1,100,000
    end_auction(english_auction)

    assert close_and_settle(english_auction.pk) == "no_sale"

    english_auction.refresh_from_db()
    assert english_auction.status == "closed" and english_auction.outcome == "no_sale"
    assert english_auction.winner_id is None and english_auction.winning_bid_id is None
    assert not Settlement.objects.exists()
    assert set(deposit_statuses(english_auction).values()) == {"released"}
    assert released_buyers(english_auction) == sorted(u.organization_id for u in english_bidders)
    [closed] = actions_of(english_auction, "auction.closed")
    assert closed.data["outcome"] == "no_sale" and closed.data["reserve_met"] is False
    assert package_status(english_auction) == "approved"
    assert AuditEvent.objects.filter(
        action="package.return_to_market", object_id=str(english_auction.package_id)
    ).exists()

    relisted = make_auction(seller_user, english_auction.package)

    assert relisted.status == "open" and relisted.pk != english_auction.pk
    assert package_status(relisted) == "in_auction"


def test_no_bids_is_no_sale(english_auction, english_bidders):
    end_auction(english_auction)

    assert close_and_settle(english_auction.pk) == "no_sale"

    assert not Settlement.objects.exists()
    assert set(deposit_statuses(english_auction).values()) == {"released"}
    assert package_status(english_auction) == "approved"


def test_without_reserve_any_bid_wins(seller_user, registered_bidder):
    auction = make_auction(seller_user, reserve_price=None)
    bidder = registered_bidder(auction)
    bid(bidder, auction, "1000000.00")
    end_auction(auction)

    assert close_and_settle(auction.pk) == "awarded"
    assert Settlement.objects.get(auction=auction).price == Decimal("1000000.00")


def test_payment_window_zero_is_due_at_award(seller_user, registered_bidder):
    auction = make_auction(seller_user, payment_window_hours=0)
    bidder = registered_bidder(auction)
    bid(bidder, auction, "1100000.00")
    end_auction(auction)

    close_and_settle(auction.pk)

    auction.refresh_from_db()
    settlement = Settlement.objects.get(auction=auction)
    assert settlement.due_at == auction.closed_at


def test_without_a_deposit_the_whole_price_is_due(seller_user):
    auction = make_auction(seller_user, deposit_amount="0", payment_window_hours=24)
    bidder = make_bidder()
    register(bidder, auction)  # approved at once: nothing to confirm
    bid(bidder, auction, "1150000.00")
    end_auction(auction)

    close_and_settle(auction.pk)

    auction.refresh_from_db()
    settlement = Settlement.objects.get(auction=auction)
    assert settlement.deposit_applied == 0 and settlement.balance_due == Decimal("1150000.00")
    assert settlement.due_at == auction.closed_at + dt.timedelta(hours=24)


def test_sealed_highest_bid_wins_even_when_placed_later(sealed_auction, registered_bidder):
    alpha, beta, gamma = (registered_bidder(sealed_auction) for _ in range(3))
    bid(alpha, sealed_auction, "1200000.00")
    bid(beta, sealed_auction, "1300000.00")
    bid(gamma, sealed_auction, "1300000.00")  # a tie with beta, placed later
    bid(alpha, sealed_auction, "1250000.00")
    end_auction(sealed_auction)

    assert close_and_settle(sealed_auction.pk) == "awarded"

    sealed_auction.refresh_from_db()
    assert sealed_auction.winner_id == beta.organization_id
    assert sealed_auction.winning_bid.sequence == 2
    settlement = Settlement.objects.get(auction=sealed_auction)
    assert settlement.buyer_id == beta.organization_id
    assert settlement.price == Decimal("1300000.00")
    statuses = deposit_statuses(sealed_auction)
    assert statuses[beta.organization_id] == "applied"
    assert statuses[alpha.organization_id] == statuses[gamma.organization_id] == "released"


def test_sealed_tie_goes_to_the_earliest_bid(sealed_auction, registered_bidder):
    alpha, beta = registered_bidder(sealed_auction), registered_bidder(sealed_auction)
    bid(beta, sealed_auction, "1500000.00")
    bid(alpha, sealed_auction, "1500000.00")
    end_auction(sealed_auction)

    close_and_settle(sealed_auction.pk)

    sealed_auction.refresh_from_db()
    assert sealed_auction.winner_id == beta.organization_id


def test_close_before_the_end_does_nothing(english_auction, english_bidders):
    bid(english_bidders[0], english_auction, "1200000.00")

    assert close_and_settle(english_auction.pk) == "open"

    english_auction.refresh_from_db()
    assert english_auction.status == "open" and english_auction.closed_at is None
    assert not actions_of(english_auction, "auction.closed")
    assert not Settlement.objects.exists()


def test_close_after_an_extension_waits_for_the_new_end(english_auction, english_bidders):
    """The message scheduled for the original end arrives after a soft-close extension."""
    Auction.objects.filter(pk=english_auction.pk).update(
        ends_at=timezone.now() + dt.timedelta(seconds=5)
    )
    bid(english_bidders[0], english_auction, "1200000.00")  # extends by 300 s

    assert close_and_settle(english_auction.pk) == "open"
    assert Auction.objects.get(pk=english_auction.pk).status == "open"


def test_a_scheduled_auction_whose_end_passed_is_opened_and_closed(seller_user):
    auction = make_auction(
        seller_user, starts_in=dt.timedelta(hours=1), ends_in=dt.timedelta(hours=2)
    )
    now = timezone.now()
    Auction.objects.filter(pk=auction.pk).update(
        starts_at=now - dt.timedelta(hours=2), ends_at=now - dt.timedelta(hours=1)
    )

    assert close_and_settle(auction.pk) == "no_sale"

    assert [e.action for e in actions_of(auction)][-2:] == ["auction.opened", "auction.closed"]
    assert package_status(auction) == "approved"


def test_the_sweeper_and_the_task_close_only_auctions_that_are_due(seller_user, registered_bidder):
    due = make_auction(seller_user)
    bidder = registered_bidder(due)
    bid(bidder, due, "1100000.00")
    running = make_auction(seller_user)
    end_auction(due)

    assert auction_close_sweep() == 1

    assert Auction.objects.get(pk=due.pk).outcome == "awarded"
    assert Auction.objects.get(pk=running.pk).status == "open"
    # The task the close message names runs the same entry point; it is registered by name.
    assert "settlement.auction_close" in celery_app.tasks
    assert auction_close(running.pk) == "open"
    end_auction(running)
    assert auction_close(running.pk) == "no_sale"
    assert auction_close_sweep() == 0


# --------------------------------------------------------------------------- cancel


def test_seller_cancels_an_open_auction_deposits_are_released(
    english_auction, english_bidders, registered_bidder, seller_client, seller_user
):
    unconfirmed = registered_bidder(english_auction, confirmed=False)
    bid(english_bidders[0], english_auction, "1200000.00")

    response = seller_client.post(f"{auction_url(english_auction)}cancel/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    english_auction.refresh_from_db()
    assert english_auction.status == "cancelled" and english_auction.outcome == ""
    assert english_auction.cancelled_at is not None
    statuses = deposit_statuses(english_auction)
    assert statuses.pop(unconfirmed.organization_id) == "none"
    assert set(statuses.values()) == {"released"}
    released = actions_of(english_auction, "deposit.released")
    assert sorted(e.data["buyer_id"] for e in released) == sorted(
        u.organization_id for u in english_bidders
    )
    assert {e.data["reason"] for e in released} == {"cancelled"}
    assert len(actions_of(english_auction, "auction.cancelled")) == 1
    assert not actions_of(english_auction, "auction.closed")
    assert package_status(english_auction) == "approved"
    # The package can go up again.
    assert make_auction(seller_user, english_auction.package).status == "open"


def test_compliance_cancels_a_scheduled_auction(scheduled_auction, compliance_client):
    response = compliance_client.post(f"{auction_url(scheduled_auction)}cancel/")

    assert response.status_code == 200, response.content
    assert Auction.objects.get(pk=scheduled_auction.pk).status == "cancelled"
    assert package_status(scheduled_auction) == "approved"


@pytest.mark.parametrize("who", ["bidder", "platform_admin", "other_bank"])
def test_others_may_not_cancel(english_auction, role_clients, who):
    if who == "other_bank":
        client = client_for(
            UserFactory(organization=OrganizationFactory(kind="bank"), role="disposal_officer")
        )
    else:
        client = role_clients[who]

    assert_problem(client.post(f"{auction_url(english_auction)}cancel/"), 403, "permission_denied")
    assert Auction.objects.get(pk=english_auction.pk).status == "open"
    assert package_status(english_auction) == "in_auction"


def test_cancel_after_close_is_invalid_state(english_auction, english_bidders, seller_client):
    bid(english_bidders[0], english_auction, "1200000.00")
    end_auction(english_auction)
    close_and_settle(english_auction.pk)
    events_before = len(actions_of(english_auction))

    assert_problem(
        seller_client.post(f"{auction_url(english_auction)}cancel/"), 409, "invalid_state"
    )
    english_auction.refresh_from_db()
    assert english_auction.status == "closed" and english_auction.outcome == "awarded"
    assert deposit_statuses(english_auction)[english_bidders[0].organization_id] == "applied"
    assert Settlement.objects.filter(auction=english_auction).count() == 1
    assert len(actions_of(english_auction)) == events_before
    assert package_status(english_auction) == "in_auction"


def test_cancel_twice_is_invalid_state(english_auction, seller_client):
    url = f"{auction_url(english_auction)}cancel/"
    assert seller_client.post(url).status_code == 200

    assert_problem(seller_client.post(url), 409, "invalid_state")
    assert len(actions_of(english_auction, "auction.cancelled")) == 1


def test_an_auction_past_its_end_can_no_longer_be_cancelled(
    english_auction, english_bidders, seller_client
):
    """Once the end has come the auction is closed, exactly once (Invariant 3): the seller cannot
    escape an award by cancelling in the moment before the close worker runs."""
    bid(english_bidders[0], english_auction, "1200000.00")
    end_auction(english_auction)

    assert_problem(
        seller_client.post(f"{auction_url(english_auction)}cancel/"), 409, "invalid_state"
    )

    assert close_and_settle(english_auction.pk) == "awarded"
    assert Settlement.objects.filter(auction=english_auction).count() == 1


def test_bids_after_cancel_are_refused(english_auction, english_bidders, seller_user):
    auction_cancel(actor=seller_user, auction_id=english_auction.pk)

    response = post_bid(client_for(english_bidders[0]), english_auction, "1200000.00")

    assert_problem(response, 409, "auction_not_open")
