"""The rules of API.md "Auctions and registrations" and "Bids", through HTTP, with every error
code; every refusal changes nothing (DESIGN.md, Invariants 2 and 8)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bidding.models import Auction, PackageBar, Registration
from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from listings.models import DataRoomGrant
from marketplace.accounts.models import Organization
from settlement.tasks import close_and_settle
from tests.bidding.conftest import (
    INCREMENT,
    START,
    actions_of,
    assert_problem,
    bidding_state,
    end_auction,
    make_auction,
    make_bidder,
    make_package,
    post_bid,
    register,
)
from tests.conftest import client_for
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

AUCTIONS = "/api/v1/auctions/"


def auction_payload(package, **overrides) -> dict:
    now = timezone.now()
    payload = {
        "package": package.pk,
        "format": "english",
        "starts_at": now.isoformat(),
        "ends_at": (now + dt.timedelta(hours=1)).isoformat(),
        "starting_price": "1000000.00",
        "min_increment": "10000.00",
        "reserve_price": "1100000.00",
        "deposit_amount": "50000.00",
    }
    payload.update(overrides)
    return payload


def registrations_url(auction) -> str:
    return f"/api/v1/auctions/{auction.pk}/registrations/"


def confirm_url(registration) -> str:
    return f"/api/v1/registrations/{registration.pk}/confirm-deposit/"


# --------------------------------------------------------------------------- auction create


def test_create_english_auction_opens_now_and_puts_package_in_auction(
    seller_client, approved_package, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = seller_client.post(AUCTIONS, auction_payload(approved_package), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "open" and body["format"] == "english"
    assert body["starting_price"] == "1000000.00" and body["reserve_price"] == "1100000.00"
    assert body["soft_close_seconds"] == 300 and body["extension_seconds"] == 300
    assert body["payment_window_hours"] == 72
    assert body["bid_count"] == 0 and body["current_price"] is None
    assert body["minimum_next_bid"] == "1000000.00"
    assert body["ends_at"] == body["original_ends_at"]
    approved_package.refresh_from_db()
    assert approved_package.status == "in_auction"
    auction = Auction.objects.get(pk=body["id"])
    assert [e.action for e in actions_of(auction)] == ["auction.created", "auction.opened"]
    # Only the close is scheduled (the auction is already open), at its end, after commit.
    assert sent_tasks == [("settlement.auction_close", [auction.pk], auction.ends_at)]


def test_create_future_auction_is_scheduled_with_open_and_close_messages(
    seller_client, approved_package, sent_tasks, django_capture_on_commit_callbacks
):
    starts = timezone.now() + dt.timedelta(days=1)
    payload = auction_payload(
        approved_package,
        format="sealed",
        starts_at=starts.isoformat(),
        ends_at=(starts + dt.timedelta(hours=2)).isoformat(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = seller_client.post(AUCTIONS, payload, format="json")

    assert response.status_code == 201, response.content
    auction = Auction.objects.get(pk=response.json()["id"])
    assert auction.status == "scheduled" and auction.opened_at is None
    approved_package.refresh_from_db()
    assert approved_package.status == "in_auction"
    assert sorted(sent_tasks) == sorted(
        [
            ("bidding.auction_open", [auction.pk], auction.starts_at),
            ("settlement.auction_close", [auction.pk], auction.ends_at),
        ]
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (lambda now: {"ends_at": (now - dt.timedelta(minutes=1)).isoformat()}, "ends_at"),
        (lambda now: {"ends_at": now.isoformat(), "starts_at": now.isoformat()}, "ends_at"),
        (lambda now: {"starting_price": "0"}, "starting_price"),
        (lambda now: {"starting_price": "-1.00"}, "starting_price"),
        (lambda now: {"starting_price": "abc"}, "starting_price"),
        (lambda now: {"starting_price": "1e30"}, "starting_price"),
        (lambda now: {"min_increment": "0.00"}, "min_increment"),
        (lambda now: {"min_increment": "5.001"}, "min_increment"),
        (lambda now: {"deposit_amount": "-1"}, "deposit_amount"),
        (lambda now: {"reserve_price": "999999.99"}, "reserve_price"),
        (lambda now: {"payment_window_hours": 721}, "payment_window_hours"),
        (lambda now: {"payment_window_hours": -1}, "payment_window_hours"),
        (lambda now: {"soft_close_seconds": -1}, "soft_close_seconds"),
        (lambda now: {"format": "dutch"}, "format"),
    ],
    ids=[
        "ends_before_start",
        "ends_at_start",
        "start_price_zero",
        "start_price_negative",
        "start_price_not_a_number",
        "start_price_huge",
        "increment_zero",
        "increment_three_places",
        "deposit_negative",
        "reserve_below_start",
        "payment_window_over_720",
        "payment_window_negative",
        "soft_close_negative",
        "unknown_format",
    ],
)
def test_create_refuses_invalid_terms_and_changes_nothing(
    seller_client, approved_package, overrides, field
):
    payload = auction_payload(approved_package)
    payload.update(overrides(timezone.now()))

    response = seller_client.post(AUCTIONS, payload, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] in {"validation_error", "invalid_value"}
    assert field in body["errors"], body
    approved_package.refresh_from_db()
    assert approved_package.status == "approved"
    assert not Auction.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"payment_window_hours": 0},
        {"payment_window_hours": 720},
        {"reserve_price": "1000000.00"},
        {"reserve_price": None},
        {"deposit_amount": "0"},
    ],
    ids=["window_0", "window_720", "reserve_equals_start", "no_reserve", "no_deposit"],
)
def test_create_accepts_boundary_terms(seller_client, approved_package, overrides):
    response = seller_client.post(
        AUCTIONS, auction_payload(approved_package, **overrides), format="json"
    )

    assert response.status_code == 201, response.content
    auction = Auction.objects.get(pk=response.json()["id"])
    for key, value in overrides.items():
        stored = getattr(auction, key)
        assert stored == (Decimal(value) if isinstance(value, str) else value)


@pytest.mark.parametrize("status", ["draft", "pending_review", "withdrawn", "sold"])
def test_create_on_a_package_that_is_not_approved_is_invalid_state(
    seller_client, seller_user, status
):
    package = make_package(seller_user, status=status)

    response = seller_client.post(AUCTIONS, auction_payload(package), format="json")

    assert_problem(response, 409, "invalid_state")
    package.refresh_from_db()
    assert package.status == status and not Auction.objects.exists()


def test_second_auction_on_a_package_in_auction_is_invalid_state(seller_client, english_auction):
    response = seller_client.post(AUCTIONS, auction_payload(english_auction.package), format="json")

    assert_problem(response, 409, "invalid_state")
    assert Auction.objects.count() == 1


def test_other_bank_may_not_auction_a_package_it_does_not_own(approved_package, seller_user):
    other_bank_officer = UserFactory(
        organization=OrganizationFactory(kind="bank"), role="disposal_officer"
    )
    client = client_for(other_bank_officer)
    draft = make_package(seller_user, status="draft")

    # An approved package is public: the other bank sees it, but it is not its package.
    assert_problem(
        client.post(AUCTIONS, auction_payload(approved_package), format="json"),
        403,
        "permission_denied",
    )
    # Another bank's draft is not even visible to it.
    assert_problem(client.post(AUCTIONS, auction_payload(draft), format="json"), 404, "not_found")
    approved_package.refresh_from_db()
    assert approved_package.status == "approved" and not Auction.objects.exists()


@pytest.mark.parametrize("role", ["bidder", "compliance_officer", "platform_admin"])
def test_only_disposal_officers_create_auctions(role_clients, approved_package, role):
    response = role_clients[role].post(AUCTIONS, auction_payload(approved_package), format="json")

    assert_problem(response, 403, "permission_denied")
    assert not Auction.objects.exists()


# --------------------------------------------------------------------------- registrations


def test_registration_pending_deposit_then_confirmed_by_compliance(
    english_auction, bidder_client, bidder_user, compliance_client
):
    response = bidder_client.post(
        registrations_url(english_auction), {"accept_nda": True}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_deposit" and body["deposit_amount"] == "50000.00"
    assert body["auction"] == english_auction.pk
    registration = Registration.objects.get(pk=body["id"])
    assert registration.buyer_id == bidder_user.organization_id
    assert registration.nda_accepted_at is not None

    confirmed = compliance_client.post(confirm_url(registration))

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "approved"
    registration.refresh_from_db()
    assert registration.deposit_status == "held" and registration.deposit_confirmed_at
    events = actions_of(english_auction, "deposit.confirmed")
    assert len(events) == 1 and events[0].data["amount"] == "50000.00"


def test_platform_admin_may_confirm_a_deposit(english_auction, bidder_user, admin_client):
    registration = register(bidder_user, english_auction)

    response = admin_client.post(confirm_url(registration))

    assert response.status_code == 200 and response.json()["status"] == "approved"


@pytest.mark.parametrize("who", ["seller", "bidder"])
def test_only_the_platform_confirms_deposits(
    english_auction, bidder_user, bidder_client, seller_client, who
):
    registration = register(bidder_user, english_auction)
    client = {"seller": seller_client, "bidder": bidder_client}[who]

    assert_problem(client.post(confirm_url(registration)), 403, "permission_denied")
    registration.refresh_from_db()
    assert registration.status == "pending_deposit" and registration.deposit_status == "none"
    assert not actions_of(english_auction, "deposit.confirmed")


def test_confirming_a_deposit_twice_is_invalid_state(
    english_auction, bidder_user, compliance_client
):
    registration = register(bidder_user, english_auction)
    assert compliance_client.post(confirm_url(registration)).status_code == 200

    assert_problem(compliance_client.post(confirm_url(registration)), 409, "invalid_state")
    assert len(actions_of(english_auction, "deposit.confirmed")) == 1


def test_confirm_deposit_of_unknown_registration_is_404(compliance_client):
    assert_problem(
        compliance_client.post("/api/v1/registrations/999999/confirm-deposit/"), 404, "not_found"
    )


def test_deposit_zero_registration_is_approved_at_once_and_may_bid(seller_user):
    auction = make_auction(seller_user, deposit_amount="0")
    bidder = make_bidder()
    client = client_for(bidder)

    response = client.post(registrations_url(auction), {"accept_nda": True}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "approved"
    assert response.json()["deposit_amount"] == "0.00"
    assert post_bid(client, auction, "1000000.00").status_code == 201


@pytest.mark.parametrize("body", [{"accept_nda": False}, {}], ids=["refused", "missing"])
def test_registration_requires_accepting_the_nda(english_auction, bidder_client, body):
    response = bidder_client.post(registrations_url(english_auction), body, format="json")

    assert response.status_code == 400, response.content
    assert "accept_nda" in response.json()["errors"]
    assert not Registration.objects.exists()


@pytest.mark.parametrize(
    ("eligibility", "licence_type"),
    [
        ("pending", "national_amc"),
        ("suspended", "local_amc"),
        ("rejected", "national_amc"),
        ("approved", "other"),
    ],
)
def test_ineligible_buyers_may_not_register(english_auction, eligibility, licence_type):
    bidder = make_bidder(eligibility=eligibility, licence_type=licence_type)
    client = client_for(bidder)

    response = client.post(registrations_url(english_auction), {"accept_nda": True}, format="json")

    assert_problem(response, 403, "buyer_not_eligible")
    assert not Registration.objects.exists()
    assert not DataRoomGrant.objects.filter(organization_id=bidder.organization_id).exists()


def test_a_barred_buyer_may_not_register_for_the_package(
    english_auction, bidder_user, bidder_client
):
    PackageBar.objects.create(
        package=english_auction.package, buyer=bidder_user.organization, reason="defaulted"
    )

    response = bidder_client.post(
        registrations_url(english_auction), {"accept_nda": True}, format="json"
    )

    assert_problem(response, 403, "buyer_not_eligible")
    assert not Registration.objects.exists()


def test_a_second_registration_is_a_conflict(english_auction, bidder_client):
    url = registrations_url(english_auction)
    assert bidder_client.post(url, {"accept_nda": True}, format="json").status_code == 201

    assert_problem(
        bidder_client.post(url, {"accept_nda": True}, format="json"), 409, "invalid_state"
    )
    assert Registration.objects.count() == 1


@pytest.mark.parametrize("role", ["disposal_officer", "compliance_officer"])
def test_only_bidders_register(role_clients, english_auction, role):
    response = role_clients[role].post(
        registrations_url(english_auction), {"accept_nda": True}, format="json"
    )

    assert_problem(response, 403, "permission_denied")
    assert not Registration.objects.exists()


def test_registration_opens_the_data_room(english_auction, bidder_client, bidder_user):
    loans = f"/api/v1/packages/{english_auction.package_id}/loans/"
    assert_problem(bidder_client.get(loans), 403, "nda_required")

    register(bidder_user, english_auction)

    response = bidder_client.get(loans)
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0  # the test package has no tape; access is what counts


def test_registration_on_a_scheduled_auction_is_allowed(scheduled_auction, bidder_client):
    response = bidder_client.post(
        registrations_url(scheduled_auction), {"accept_nda": True}, format="json"
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("how", ["cancelled", "ended", "closed"])
def test_registration_after_the_auction_is_over_is_refused(
    english_auction, seller_user, bidder_client, how
):
    if how == "cancelled":
        auction_cancel(actor=seller_user, auction_id=english_auction.pk)
    else:
        end_auction(english_auction)
        if how == "closed":
            close_and_settle(english_auction.pk)

    response = bidder_client.post(
        registrations_url(english_auction), {"accept_nda": True}, format="json"
    )

    assert_problem(response, 409, "auction_not_open")
    assert not Registration.objects.exists()


# --------------------------------------------------------------------------- bids


def test_first_bid_is_accepted_with_its_sequence(english_auction, english_bidders, clients):
    alpha = english_bidders[0]

    response = post_bid(clients(alpha), english_auction, "1000000.00")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["auction"] == english_auction.pk and body["amount"] == "1000000.00"
    assert body["sequence"] == 1 and body["placed_at"]
    english_auction.refresh_from_db()
    assert english_auction.bid_count == 1 and english_auction.current_price == START
    assert english_auction.leading_bid_id == body["id"]
    events = actions_of(english_auction, "bid.placed")
    assert len(events) == 1 and events[0].data["amount"] == "1000000.00"
    assert events[0].actor_organization_id == alpha.organization_id


def test_english_bids_must_beat_the_current_price_by_the_increment(
    english_auction, english_bidders, clients
):
    alpha, beta, _ = english_bidders
    too_low_first = assert_problem(
        post_bid(clients(alpha), english_auction, "999999.99"), 409, "bid_too_low"
    )
    assert too_low_first["minimum_bid"] == "1000000.00"
    assert post_bid(clients(alpha), english_auction, "1000000.00").status_code == 201

    before = bidding_state(english_auction)
    too_low = assert_problem(
        post_bid(clients(beta), english_auction, "1009999.99"), 409, "bid_too_low"
    )

    assert too_low["minimum_bid"] == "1010000.00"
    assert bidding_state(english_auction) == before
    # Exactly the minimum is enough.
    accepted = post_bid(clients(beta), english_auction, "1010000.00")
    assert accepted.status_code == 201 and accepted.json()["sequence"] == 2
    english_auction.refresh_from_db()
    assert english_auction.current_price == START + INCREMENT


def test_the_leader_may_not_outbid_itself(english_auction, english_bidders, clients):
    alpha = english_bidders[0]
    assert post_bid(clients(alpha), english_auction, "1000000.00").status_code == 201
    before = bidding_state(english_auction)

    assert_problem(post_bid(clients(alpha), english_auction, "5000000.00"), 409, "already_leading")

    assert bidding_state(english_auction) == before


def _suspend(user) -> None:
    Organization.objects.filter(pk=user.organization_id).update(eligibility="suspended")


REFUSALS = {
    # name: (how the bidder is set up, the amount, status, code)
    "not_registered": ("unregistered", "1000000.00", 403, "not_registered"),
    "deposit_not_confirmed": ("unconfirmed", "1000000.00", 403, "deposit_not_confirmed"),
    "buyer_suspended_after_registering": ("suspended", "1000000.00", 403, "buyer_not_eligible"),
    "amount_not_a_number": ("confirmed", "abc", 400, "invalid_value"),
    "amount_negative": ("confirmed", "-5", 400, "invalid_value"),
    "amount_three_places": ("confirmed", "1.005", 400, "invalid_value"),
    "amount_zero_string": ("confirmed", "0", 400, "invalid_value"),
    "amount_zero_number": ("confirmed", 0, 400, "invalid_value"),
    "amount_nan": ("confirmed", "NaN", 400, "invalid_value"),
    "amount_infinite": ("confirmed", "Infinity", 400, "invalid_value"),
    "amount_too_large": ("confirmed", "1e30", 400, "invalid_value"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_bids_change_nothing(english_auction, english_bidders, compliance_user, case):
    setup, amount, status, code = REFUSALS[case]
    # A bid is already standing, so "nothing changed" covers price, leader and count.
    leader = english_bidders[0]
    assert post_bid(client_for(leader), english_auction, "1000000.00").status_code == 201
    bidder = make_bidder()
    if setup != "unregistered":
        register(
            bidder,
            english_auction,
            confirmed_by=compliance_user if setup in ("confirmed", "suspended") else None,
        )
    if setup == "suspended":
        _suspend(bidder)
    # Well inside the soft-close window: an accepted bid would also move ends_at.
    Auction.objects.filter(pk=english_auction.pk).update(
        ends_at=timezone.now() + dt.timedelta(seconds=60)
    )
    before = bidding_state(english_auction)

    response = post_bid(client_for(bidder), english_auction, amount)

    body = assert_problem(response, status, code)
    if status == 400:
        assert "amount" in body["errors"]
    assert bidding_state(english_auction) == before


@pytest.mark.parametrize("how", ["scheduled", "ended_not_closed", "closed", "cancelled"])
def test_bids_outside_the_open_period_are_refused(
    seller_user, registered_bidder, english_bidders, english_auction, how
):
    if how == "scheduled":
        auction = make_auction(
            seller_user, starts_in=dt.timedelta(hours=1), ends_in=dt.timedelta(hours=2)
        )
        bidder = registered_bidder(auction)
    else:
        auction, bidder = english_auction, english_bidders[1]
        assert post_bid(client_for(english_bidders[0]), auction, "1000000.00").status_code == 201
        if how == "cancelled":
            auction_cancel(actor=seller_user, auction_id=auction.pk)
        else:
            end_auction(auction)
            if how == "closed":
                close_and_settle(auction.pk)
    before = bidding_state(auction)

    response = post_bid(client_for(bidder), auction, "9000000.00")

    assert_problem(response, 409, "auction_not_open")
    assert bidding_state(auction) == before
    assert (
        before["status"]
        == {
            "scheduled": "scheduled",
            "ended_not_closed": "open",
            "closed": "closed",
            "cancelled": "cancelled",
        }[how]
    )


def test_a_scheduled_auction_opens_on_the_first_bid_after_its_start(seller_user, registered_bidder):
    auction = make_auction(
        seller_user, starts_in=dt.timedelta(hours=1), ends_in=dt.timedelta(hours=2)
    )
    bidder = registered_bidder(auction)
    # The open message is late (or lost): the start has passed, the auction is still scheduled.
    Auction.objects.filter(pk=auction.pk).update(starts_at=timezone.now() - dt.timedelta(seconds=1))

    response = post_bid(client_for(bidder), auction, "1000000.00")

    assert response.status_code == 201, response.content
    auction.refresh_from_db()
    assert auction.status == "open" and auction.opened_at is not None
    assert [e.action for e in actions_of(auction)][-2:] == ["auction.opened", "bid.placed"]


@pytest.mark.parametrize("role", ["disposal_officer", "compliance_officer", "platform_admin"])
def test_only_bidders_bid(role_clients, english_auction, role):
    response = post_bid(role_clients[role], english_auction, "1000000.00")

    assert_problem(response, 403, "permission_denied")
    assert english_auction.bids.count() == 0


def test_a_bid_on_an_unknown_auction_is_404(bidder_client):
    assert_problem(post_bid(bidder_client, 999999, "1000000.00"), 404, "not_found")


# --------------------------------------------------------------------------- soft close


def _set_remaining(auction, seconds: float) -> None:
    Auction.objects.filter(pk=auction.pk).update(
        ends_at=timezone.now() + dt.timedelta(seconds=seconds)
    )


def test_a_bid_inside_the_soft_close_window_extends_the_end(
    english_auction, english_bidders, sent_tasks, django_capture_on_commit_callbacks
):
    alpha = english_bidders[0]
    original_end = english_auction.original_ends_at
    _set_remaining(english_auction, 299)  # soft_close_seconds is 300
    old_end = Auction.objects.get(pk=english_auction.pk).ends_at

    with django_capture_on_commit_callbacks(execute=True):
        bid = bid_place(actor=alpha, auction_id=english_auction.pk, amount="1000000.00")

    english_auction.refresh_from_db()
    assert english_auction.ends_at == bid.placed_at + dt.timedelta(seconds=300)
    assert english_auction.ends_at > old_end
    assert english_auction.original_ends_at == original_end  # kept as it was
    [event] = actions_of(english_auction, "auction.extended")
    assert dt.datetime.fromisoformat(event.data["from"]) == old_end
    assert dt.datetime.fromisoformat(event.data["to"]) == english_auction.ends_at
    # The close is rescheduled at the new end.
    assert sent_tasks == [
        ("settlement.auction_close", [english_auction.pk], english_auction.ends_at)
    ]


def test_a_bid_just_outside_the_soft_close_window_leaves_the_end(
    english_auction, english_bidders, sent_tasks, django_capture_on_commit_callbacks
):
    _set_remaining(english_auction, 303)
    old_end = Auction.objects.get(pk=english_auction.pk).ends_at

    with django_capture_on_commit_callbacks(execute=True):
        bid_place(actor=english_bidders[0], auction_id=english_auction.pk, amount="1000000.00")

    english_auction.refresh_from_db()
    assert english_auction.ends_at == old_end
    assert not actions_of(english_auction, "auction.extended")
    assert sent_tasks == []


def test_repeated_bids_in_the_window_keep_extending(english_auction, english_bidders):
    alpha, beta, gamma = english_bidders
    _set_remaining(english_auction, 10)
    ends = []
    for n, bidder in enumerate([alpha, beta, gamma, alpha]):
        bid = bid_place(actor=bidder, auction_id=english_auction.pk, amount=START + n * INCREMENT)
        english_auction.refresh_from_db()
        assert english_auction.ends_at == bid.placed_at + dt.timedelta(seconds=300)
        ends.append(english_auction.ends_at)

    assert ends == sorted(ends) and len(set(ends)) == 4
    assert len(actions_of(english_auction, "auction.extended")) == 4


def test_an_extension_never_moves_the_end_earlier(seller_user, registered_bidder):
    auction = make_auction(seller_user, soft_close_seconds=600, extension_seconds=60)
    bidder = registered_bidder(auction)
    _set_remaining(auction, 300)  # inside the window, but placed_at + 60 s < ends_at
    old_end = Auction.objects.get(pk=auction.pk).ends_at

    bid_place(actor=bidder, auction_id=auction.pk, amount=START)

    auction.refresh_from_db()
    assert auction.ends_at == old_end
    assert not actions_of(auction, "auction.extended")


def test_soft_close_zero_never_extends(seller_user, registered_bidder):
    auction = make_auction(seller_user, soft_close_seconds=0)
    bidder = registered_bidder(auction)
    _set_remaining(auction, 1)
    old_end = Auction.objects.get(pk=auction.pk).ends_at

    bid_place(actor=bidder, auction_id=auction.pk, amount=START)

    auction.refresh_from_db()
    assert auction.ends_at == old_end


# --------------------------------------------------------------------------- sealed rules


def test_sealed_bidders_may_bid_several_times_at_or_above_the_starting_price(
    sealed_auction, registered_bidder
):
    alpha = registered_bidder(sealed_auction)
    beta = registered_bidder(sealed_auction)
    a, b = client_for(alpha), client_for(beta)

    assert post_bid(a, sealed_auction, "1500000.00").status_code == 201
    # Lower than its own earlier bid, equal to the starting price, and again: all accepted.
    assert post_bid(a, sealed_auction, "1000000.00").status_code == 201
    assert post_bid(a, sealed_auction, "1000000.00").status_code == 201
    assert post_bid(b, sealed_auction, "1000000.00").status_code == 201
    before = bidding_state(sealed_auction)
    too_low = assert_problem(post_bid(b, sealed_auction, "999999.99"), 409, "bid_too_low")

    assert too_low["minimum_bid"] == "1000000.00"
    assert bidding_state(sealed_auction) == before
    sealed_auction.refresh_from_db()
    assert sealed_auction.bid_count == 4 and sealed_auction.current_price is None
    assert list(sealed_auction.bids.values_list("sequence", flat=True)) == [1, 2, 3, 4]
