"""Per-organisation visibility of every event type (issue 12: "a buyer learns it was outbid,
never by whom; a sealed auction's bids stay secret until it closes").

One module-scoped scenario drives real services through whole sales (an English sale paid and
transferred, a sealed auction's bid, a default offered to the runner-up, a cancel, a listing's
review, buyer eligibility, a failing webhook) inside one transaction that is rolled back at the
end; it records, per phase, which organisation received which event type with which fields.
The parametrised tests then check each event type against the table below.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from bidding.services.bids import bid_place
from bidding.services.closing import auction_cancel
from listings import services as listing_services
from marketplace.accounts import services as accounts
from notifications.catalog import EventType
from notifications.models import Event
from notifications.services.reminders import due_soon_sweep
from settlement.defaults import settlement_default
from settlement.runner_up import settlement_offer_runner_up
from settlement.tasks import close_and_settle
from settlement.transfers import loans_transfer
from tests.bidding.conftest import INCREMENT, START, make_auction, register
from tests.factories import (
    LoanTapeImportFactory,
    OrganizationFactory,
    PackageFactory,
    UserFactory,
    WebhookEndpointFactory,
    demo_loan,
    make_bank_officer,
    make_bidder,
    settlement_mark_paid,
)
from tests.notifications.conftest import drain
from tests.support import end_auction

# The test database is set up for modules that use it (the scenario is module-scoped).
pytestmark = pytest.mark.django_db

# (phase, type) -> the roles that receive it. Roles are per phase (see ``scenario``).
EXPECTED: dict[str, tuple[str, set[str]]] = {
    EventType.AUCTION_CREATED: (
        "english",
        {"seller", "platform", "winner", "loser", "watcher", "outsider"},
    ),
    EventType.AUCTION_OPENED: ("english", {"seller", "platform"}),  # no one registered yet
    EventType.AUCTION_EXTENDED: ("english", {"seller", "platform", "winner", "loser", "watcher"}),
    EventType.AUCTION_CLOSED: ("english", {"seller", "platform", "winner", "loser", "watcher"}),
    EventType.AUCTION_CANCELLED: ("cancel", {"seller", "platform", "registered"}),
    EventType.AUCTION_WON: ("english", {"winner"}),
    EventType.AUCTION_LOST: ("english", {"loser"}),
    EventType.BID_PLACED: ("english", {"seller", "winner", "loser"}),
    EventType.BID_OUTBID: ("english", {"loser"}),
    EventType.REGISTRATION_CREATED: (
        "english",
        {"seller", "platform", "winner", "loser", "watcher"},
    ),
    EventType.DEPOSIT_CONFIRMED: ("english", {"platform", "winner", "loser", "watcher"}),
    EventType.DEPOSIT_RELEASED: ("english", {"platform", "loser", "watcher"}),
    EventType.DEPOSIT_APPLIED: ("english", {"platform", "winner"}),
    EventType.DEPOSIT_FORFEITED: ("default", {"seller", "platform", "defaulter"}),
    EventType.SETTLEMENT_CREATED: ("english", {"seller", "platform", "winner"}),
    EventType.SETTLEMENT_DUE_SOON: ("english", {"seller", "platform", "winner"}),
    EventType.SETTLEMENT_PAID: ("english", {"seller", "platform", "winner"}),
    EventType.SETTLEMENT_DEFAULTED: ("default", {"seller", "platform", "defaulter"}),
    EventType.SETTLEMENT_RUNNER_UP_OFFERED: ("default", {"seller", "platform", "runner_up"}),
    EventType.LOANS_TRANSFERRED: ("english", {"seller", "platform", "winner"}),
    EventType.SELLER_PAID_OUT: ("english", {"seller", "platform"}),
    EventType.PACKAGE_SUBMITTED: ("review", {"seller", "platform"}),
    EventType.PACKAGE_APPROVED: ("listing", {"seller", "platform"}),
    EventType.PACKAGE_REJECTED: ("review", {"seller", "platform"}),
    EventType.PACKAGE_WITHDRAWN: ("review", {"seller", "platform"}),
    EventType.LOAN_TAPE_IMPORTED: ("listing", {"seller"}),
    EventType.LOAN_TAPE_FAILED: ("review", {"seller"}),
    EventType.ORGANIZATION_APPROVED: ("organizations", {"platform", "approved_buyer"}),
    EventType.ORGANIZATION_REJECTED: ("organizations", {"platform", "rejected_buyer"}),
    EventType.ORGANIZATION_SUSPENDED: ("organizations", {"platform", "approved_buyer"}),
    EventType.WEBHOOK_DISABLED: ("webhook", {"seller"}),
}

Seen = dict[tuple[str, str], dict[str, list[dict]]]


class Recorder:
    """Events written since the last phase, by (phase, type) -> role -> data."""

    def __init__(self) -> None:
        self.seen: Seen = defaultdict(lambda: defaultdict(list))
        self.last = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def phase(self, name: str, roles: dict[int, str]) -> None:
        for event in Event.objects.filter(pk__gt=self.last).order_by("pk"):
            role = roles.get(event.organization_id, f"org {event.organization_id}")
            self.seen[(name, event.type)][role].append(event.data)
            self.last = event.pk


def _english_sale(rec: Recorder, seller, platform_user, buyers) -> None:
    winner, loser, watcher, _outsider = buyers
    package = PackageFactory(created_by=seller, status="approved")
    rec.phase(
        "listing", {seller.organization_id: "seller", platform_user.organization_id: "platform"}
    )
    auction = make_auction(
        seller,
        package,
        ends_in=dt.timedelta(minutes=2),
        reserve_price=None,
        soft_close_seconds=600,
        payment_window_hours=2,
    )
    for user in (winner, loser, watcher):
        register(user, auction, confirmed_by=platform_user)
    bid_place(actor=loser, auction_id=auction.pk, amount=START)
    bid_place(actor=winner, auction_id=auction.pk, amount=START + INCREMENT)
    end_auction(auction)
    close_and_settle(auction.pk)
    due_soon_sweep()
    due_soon_sweep()  # once per settlement
    settlement = settlement_mark_paid(
        auction.settlement_set.get() if False else _settlement(auction)
    )
    loans_transfer(settlement_id=settlement.pk)
    roles = {
        b.organization_id: r
        for b, r in zip(buyers, ("winner", "loser", "watcher", "outsider"), strict=True)
    }
    rec.phase(
        "english",
        {**roles, seller.organization_id: "seller", platform_user.organization_id: "platform"},
    )


def _settlement(auction):
    from settlement.models import Settlement

    return Settlement.objects.get(auction=auction)


def _sealed_bid(rec: Recorder, seller, platform_user) -> None:
    bidder = make_bidder()
    auction = make_auction(seller, format="sealed")
    register(bidder, auction, confirmed_by=platform_user)
    rec.phase("sealed-setup", {})
    bid_place(actor=bidder, auction_id=auction.pk, amount=START)
    rec.phase(
        "sealed",
        {
            bidder.organization_id: "bidder",
            seller.organization_id: "seller",
            platform_user.organization_id: "platform",
        },
    )


def _default(rec: Recorder, seller, platform_user) -> None:
    defaulter, runner_up = make_bidder(), make_bidder()
    auction = make_auction(seller, reserve_price=None)
    for user in (runner_up, defaulter):
        register(user, auction, confirmed_by=platform_user)
    bid_place(actor=runner_up, auction_id=auction.pk, amount=START)
    bid_place(actor=defaulter, auction_id=auction.pk, amount=START + INCREMENT)
    end_auction(auction)
    close_and_settle(auction.pk)
    settlement = _settlement(auction)
    rec.phase("default-setup", {})
    type(settlement).objects.filter(pk=settlement.pk).update(
        due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    settlement_default(settlement_id=settlement.pk)
    settlement_offer_runner_up(actor=seller, settlement_id=settlement.pk)
    rec.phase(
        "default",
        {
            defaulter.organization_id: "defaulter",
            runner_up.organization_id: "runner_up",
            seller.organization_id: "seller",
            platform_user.organization_id: "platform",
        },
    )


def _cancel(rec: Recorder, seller, platform_user) -> None:
    registered = make_bidder()
    auction = make_auction(seller)
    register(registered, auction, confirmed_by=platform_user)
    rec.phase("cancel-setup", {})
    auction_cancel(actor=seller, auction_id=auction.pk)
    rec.phase(
        "cancel",
        {
            registered.organization_id: "registered",
            seller.organization_id: "seller",
            platform_user.organization_id: "platform",
        },
    )


def _review(rec: Recorder, seller, compliance) -> None:
    package = PackageFactory(created_by=seller, loans=3)
    listing_services.package_submit(actor=seller, package_id=package.pk)
    listing_services.package_reject(actor=compliance, package_id=package.pk, reason="Cut-off date")
    LoanTapeImportFactory(
        package=package, rows=[demo_loan(1, currency=package.currency, region="")]
    )
    listing_services.package_withdraw(actor=seller, package_id=package.pk)
    rec.phase("review", {seller.organization_id: "seller", compliance.organization_id: "platform"})


def _organizations(rec: Recorder, compliance) -> None:
    good = OrganizationFactory(kind="buyer", eligibility="pending")
    bad = OrganizationFactory(kind="buyer", eligibility="pending")
    rec.phase("organizations-setup", {})
    accounts.organization_approve(actor=compliance, organization_id=good.pk)
    accounts.organization_suspend(actor=compliance, organization_id=good.pk)
    accounts.organization_reject(actor=compliance, organization_id=bad.pk)
    rec.phase(
        "organizations",
        {
            good.pk: "approved_buyer",
            bad.pk: "rejected_buyer",
            compliance.organization_id: "platform",
        },
    )


def _webhook(rec: Recorder, seller, compliance) -> None:
    with override_settings(WEBHOOK_DISABLE_AFTER_FAILURES=1):
        WebhookEndpointFactory(
            created_by=seller, url="http://127.0.0.1:9/down", event_types=["package.submitted"]
        )
        package = PackageFactory(created_by=seller, loans=3)
        listing_services.package_submit(actor=seller, package_id=package.pk)
        rec.phase("webhook-setup", {})
        drain()  # the one attempt fails: the endpoint is disabled
    rec.phase("webhook", {seller.organization_id: "seller", compliance.organization_id: "platform"})


@pytest.fixture(scope="module")
def scenario(django_db_setup, django_db_blocker, tmp_path_factory) -> Seen:
    data_dir = tmp_path_factory.mktemp("data")
    with django_db_blocker.unblock(), override_settings(DATA_DIR=data_dir), transaction.atomic():
        platform_org = OrganizationFactory(kind="platform", eligibility="approved")
        compliance = UserFactory(organization=platform_org, role="compliance_officer")
        seller = make_bank_officer()
        make_bank_officer()  # another bank: must receive nothing
        buyers = [make_bidder() for _ in range(4)]
        rec = Recorder()
        _english_sale(rec, seller, compliance, buyers)
        _sealed_bid(rec, seller, compliance)
        _default(rec, seller, compliance)
        _cancel(rec, seller, compliance)
        _review(rec, seller, compliance)
        _organizations(rec, compliance)
        _webhook(rec, seller, compliance)
        seen = {key: dict(value) for key, value in rec.seen.items()}
        transaction.set_rollback(True)
    return seen


def test_the_table_covers_every_event_type():
    assert set(EXPECTED) == set(EventType)


@pytest.mark.parametrize("event_type", sorted(EventType), ids=str)
def test_each_event_type_reaches_exactly_the_organisations_that_may_see_it(scenario, event_type):
    phase, roles = EXPECTED[event_type]

    received = set(scenario.get((phase, event_type), {}))

    assert received == roles


def test_an_outbid_buyer_learns_the_new_price_never_by_whom(scenario):
    (outbid,) = scenario[("english", EventType.BID_OUTBID)]["loser"]

    assert set(outbid) == {"auction_id", "current_price", "minimum_next_bid"}
    assert Decimal(outbid["current_price"]) == START + INCREMENT
    assert Decimal(outbid["minimum_next_bid"]) == START + 2 * INCREMENT


def test_a_bidder_learns_only_its_own_bids_and_the_seller_learns_who_bid(scenario):
    bids = scenario[("english", EventType.BID_PLACED)]

    assert [Decimal(b["amount"]) for b in bids["loser"]] == [START]
    assert [Decimal(b["amount"]) for b in bids["winner"]] == [START + INCREMENT]
    assert all("buyer_id" not in b for b in bids["loser"] + bids["winner"])
    assert [Decimal(b["amount"]) for b in bids["seller"]] == [START, START + INCREMENT]
    assert all(b["buyer_id"] for b in bids["seller"])


def test_a_sealed_bid_is_told_to_its_bidder_only(scenario):
    sealed = scenario[("sealed", EventType.BID_PLACED)]

    assert set(sealed) == {"bidder"}
    assert set(scenario) & {("sealed", t) for t in EventType} == {("sealed", EventType.BID_PLACED)}


def test_buyers_learn_of_a_new_auction_without_its_prices(scenario):
    created = scenario[("english", EventType.AUCTION_CREATED)]

    for role in ("winner", "loser", "watcher", "outsider"):
        (data,) = created[role]
        assert not {"reserve_price", "starting_price", "min_increment"} & set(data)
    (seller_view,) = created["seller"]
    assert {"reserve_price", "starting_price", "min_increment"} <= set(seller_view)


def test_registered_buyers_learn_the_outcome_but_only_insiders_the_winner(scenario):
    closed = scenario[("english", EventType.AUCTION_CLOSED)]

    for role in ("loser", "watcher"):
        assert set(closed[role][0]) == {"auction_id", "outcome"}
    assert {"winner_id", "price"} <= set(closed["seller"][0])


def test_the_due_soon_reminder_is_written_once(scenario):
    reminders = scenario[("english", EventType.SETTLEMENT_DUE_SOON)]

    assert all(len(events) == 1 for events in reminders.values())


def test_events_carry_ids_and_amounts_no_names_or_texts(scenario):
    for (_phase, _type), by_role in scenario.items():
        for events in by_role.values():
            for data in events:
                assert not {"reason", "reference", "username", "name", "title"} & set(data)


def test_no_other_organisation_receives_anything(scenario):
    strangers = {
        (phase, type_, role)
        for (phase, type_), by_role in scenario.items()
        if not phase.endswith("-setup")
        for role in by_role
        if role.startswith("org ")
    }

    assert strangers == set()
