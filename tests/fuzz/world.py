"""The marketplace the fuzzer runs against: every kind of organisation and every role, packages
in each status, auctions in each state with registrations and bids, settlements awaiting
payment, defaulted and completed (with a transfer), ledger entries and audit events, all built
through the services (``tests/factories.py``) so that an id in a path names a real object.

``World.ids`` maps each object kind to the ids worth trying in paths; ``World.tokens`` maps each
role to a real API token (obtained from the token endpoint), ``anonymous`` to none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from rest_framework.test import APIClient

from bidding.models import Registration
from bidding.services.registrations import registration_create
from listings.models import Package
from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from marketplace.ledger.models import Entry
from settlement.defaults import settlement_default
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import (
    AuctionFactory,
    BidFactory,
    OrganizationFactory,
    PackageFactory,
    RegistrationFactory,
    TransferFactory,
    UserFactory,
    make_bidder,
)
from tests.support import PASSWORD, end_auction

ROLES = ("disposal_officer", "bidder", "compliance_officer", "platform_admin")
ANONYMOUS = "anonymous"


@dataclass
class World:
    users: dict[str, User]
    tokens: dict[str, str]
    ids: dict[str, list[int]] = field(default_factory=dict)


def _token(user: User) -> str:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def _sale(package: Package, bidders: list[User], amounts: list[str]) -> Settlement:
    """An English auction of ``package`` bid by ``bidders`` in order, closed and awarded."""
    auction = AuctionFactory(package=package, state="open")
    for bidder, amount in zip(bidders, amounts, strict=True):
        registration = RegistrationFactory(auction=auction, registered_by=bidder)
        BidFactory(registration=registration, amount=Decimal(amount))
    end_auction(auction)
    close_and_settle(auction.pk)
    return Settlement.objects.get(auction=auction)


def _default(settlement: Settlement) -> None:
    Settlement.objects.filter(pk=settlement.pk).update(due_at=timezone.now())
    assert settlement_default(settlement_id=settlement.pk)


def build_world() -> World:
    """Build the marketplace; about 2 s on the embedded PostgreSQL."""
    platform = OrganizationFactory(kind="platform", name="Platform", eligibility="approved")
    bank = OrganizationFactory(kind="bank", eligibility="approved")
    buyer = OrganizationFactory(kind="buyer", licence_type="national_amc", eligibility="approved")
    users = {
        "platform_admin": UserFactory(organization=platform, role="platform_admin"),
        "compliance_officer": UserFactory(organization=platform, role="compliance_officer"),
        "disposal_officer": UserFactory(organization=bank, role="disposal_officer"),
        "bidder": UserFactory(organization=buyer, role="bidder"),
    }
    seller, bidder = users["disposal_officer"], users["bidder"]
    rival, third = make_bidder(), make_bidder()
    pending = OrganizationFactory(kind="buyer", licence_type="local_amc", eligibility="pending")
    suspended = OrganizationFactory(kind="buyer", licence_type="other", eligibility="suspended")

    draft = PackageFactory(created_by=seller, loans=5)
    empty_draft = PackageFactory(created_by=seller)
    in_review = PackageFactory(created_by=seller, status="pending_review")
    approved = PackageFactory(created_by=seller, status="approved")
    withdrawn = PackageFactory(created_by=seller, status="withdrawn")

    english = AuctionFactory(package=PackageFactory(created_by=seller, status="approved"))
    BidFactory(registration=RegistrationFactory(auction=english, registered_by=bidder))
    BidFactory(registration=RegistrationFactory(auction=english, registered_by=rival))
    sealed = AuctionFactory(
        package=PackageFactory(created_by=seller, status="approved"), format="sealed"
    )
    unconfirmed = registration_create(actor=bidder, auction_id=sealed.pk, accept_nda=True)
    scheduled = AuctionFactory(
        package=PackageFactory(created_by=seller, status="approved"), state="scheduled"
    )
    no_sale = AuctionFactory(
        package=PackageFactory(created_by=seller, status="approved"), state="no_sale"
    )

    def listed() -> Package:
        return PackageFactory(created_by=seller, status="approved")

    awaiting = _sale(listed(), [rival, bidder], ["8000000.00", "9000000.00"])
    # The bidder is the runner-up of a sale its rival defaulted on.
    defaulted = _sale(listed(), [bidder, third], ["8500000.00", "9000000.00"])
    _default(defaulted)
    completed = _sale(listed(), [bidder], ["9000000.00"])
    transfer = TransferFactory(settlement=completed)

    world = World(users=users, tokens={role: _token(user) for role, user in users.items()})
    world.ids = {
        "organization": [
            platform.pk,
            bank.pk,
            buyer.pk,
            rival.organization_id,
            pending.pk,
            suspended.pk,
        ],
        "package": [
            draft.pk,
            empty_draft.pk,
            in_review.pk,
            approved.pk,
            withdrawn.pk,
            english.package_id,
            awaiting.package_id,
            completed.package_id,
        ],
        "auction": [english.pk, sealed.pk, scheduled.pk, no_sale.pk, awaiting.auction_id],
        "registration": [
            unconfirmed.pk,
            *Registration.objects.filter(auction=english).values_list("pk", flat=True),
        ],
        "settlement": [awaiting.pk, defaulted.pk, completed.pk],
        "transfer": [transfer.pk],
        "ledger-entry": list(Entry.objects.order_by("pk").values_list("pk", flat=True)[:5]),
        "audit-event": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)[:3]),
    }
    assert Organization.objects.filter(pk__in=world.ids["organization"]).count() == 6
    return world
