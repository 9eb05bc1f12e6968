"""The one fixture world the authorization matrix runs in: a caller of every kind and an object
for every path parameter, each built through the services as the product builds it.

``World.objects`` maps a name (the name the matrix's rows use) to a model instance; ``World.users``
maps each matrix role to its user. To give a new endpoint's rows something to aim at, add a
builder to ``BUILDERS`` (a function taking the world and storing what it creates in
``world.objects``); it runs after the core builders, so it can use every name they define.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.utils import timezone

from marketplace.accounts import services as account_services
from marketplace.accounts.models import Organization, User
from marketplace.ledger.models import Entry
from settlement.defaults import settlements_default_due
from settlement.models import Settlement
from settlement.tasks import close_and_settle
from tests.factories import (
    AuctionFactory,
    BidFactory,
    DeliveryFactory,
    OrganizationFactory,
    PackageFactory,
    RegistrationFactory,
    TransferFactory,
    UserFactory,
    WebhookEndpointFactory,
    make_bank_officer,
    make_bidder,
)
from tests.support import end_auction

# The callers, in the matrix's column order.
ROLES = (
    "seller",  # disposal officer of the bank that owns every package of the world
    "other_seller",  # disposal officer of another bank
    "registered",  # bidder of an approved buyer registered (deposit confirmed) on the auctions
    "bidder",  # bidder of an approved buyer registered nowhere
    "suspended",  # bidder of a buyer registered on the open auction, then suspended
    "pending",  # bidder of a buyer still pending approval
    "compliance",  # compliance officer of the platform
    "admin",  # platform admin
    "anonymous",  # no token
)
ANONYMOUS = "anonymous"

# Amounts of the world's English auctions (AuctionFactory's terms).
STARTING_PRICE = Decimal("8000000.00")
RESERVE = Decimal("9000000.00")


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)

    def org(self, role: str) -> Organization:
        return self.users[role].organization

    def name_of(self, instance: Model) -> str | None:
        """The world's name for ``instance`` (same model, same pk), or None."""
        for name, obj in self.objects.items():
            if type(obj) is type(instance) and obj.pk == instance.pk:
                return name
        return None

    def names(self, model: type[Model], ids: list[int]) -> set[str]:
        """The world's names of the ``model`` rows with these ids (ids of unnamed rows are kept
        as ``"<Model>#id"`` so that an unexpected row shows in a failure)."""
        by_id = {o.pk: n for n, o in self.objects.items() if isinstance(o, model)}
        return {by_id.get(i, f"{model.__name__}#{i}") for i in ids}


def _callers(world: World) -> None:
    platform = OrganizationFactory(kind="platform", name="Matrix Platform", eligibility="approved")
    world.users["compliance"] = UserFactory(organization=platform, role="compliance_officer")
    world.users["admin"] = UserFactory(organization=platform, role="platform_admin")
    world.users["seller"] = make_bank_officer()
    world.users["other_seller"] = make_bank_officer()
    for role in ("registered", "bidder", "suspended"):
        world.users[role] = make_bidder()
    world.users["pending"] = make_bidder(eligibility="pending")
    for role in ROLES[:6]:  # the platform's users share one organisation
        world.objects[f"org:{role}"] = world.org(role)
    world.objects["org:platform"] = platform


def _packages(world: World) -> None:
    seller = world.users["seller"]
    world.objects["draft"] = PackageFactory(created_by=seller, loans=5)
    world.objects["in_review"] = PackageFactory(created_by=seller, status="pending_review")
    world.objects["listed"] = PackageFactory(created_by=seller, status="approved")
    world.objects["other_draft"] = PackageFactory(created_by=world.users["other_seller"], loans=3)


def _open_auction(world: World) -> None:
    """An open English auction: ``registered`` and ``suspended`` registered with confirmed
    deposits, ``suspended`` placed the first bid and was then suspended; a fifth buyer's
    registration waits for its deposit to be confirmed."""
    package = PackageFactory(created_by=world.users["seller"], status="approved")
    auction = AuctionFactory(package=package, state="open")
    world.objects["open_package"] = package
    world.objects["open_auction"] = auction
    world.objects["registration"] = RegistrationFactory(
        auction=auction, registered_by=world.users["registered"]
    )
    suspended = RegistrationFactory(auction=auction, registered_by=world.users["suspended"])
    world.objects["suspended_registration"] = suspended
    BidFactory(registration=suspended, amount=STARTING_PRICE)
    depositor = make_bidder()
    world.objects["org:depositor"] = depositor.organization
    world.objects["pending_deposit"] = RegistrationFactory(
        auction=auction, registered_by=depositor, confirmed=False
    )
    account_services.organization_suspend(
        actor=world.users["compliance"],
        organization_id=world.org("suspended").pk,
        reason="Licence under review",
    )


def _sold_to(world: World, name: str, *bidders: User) -> Settlement:
    """A package of the seller auctioned and awarded to the first of ``bidders`` (each bids in
    turn, the first highest); the auction is ``<name>_auction``, its package ``<name>_package``,
    its settlement ``<name>``."""
    package = PackageFactory(created_by=world.users["seller"], status="approved")
    auction = AuctionFactory(package=package, state="open")
    amounts = [RESERVE - Decimal("500000.00") * i for i in range(len(bidders))]
    registrations = [RegistrationFactory(auction=auction, registered_by=b) for b in bidders]
    for registration, amount in reversed(list(zip(registrations, amounts, strict=True))):
        BidFactory(registration=registration, amount=amount)
    end_auction(auction)
    close_and_settle(auction.pk)
    auction.refresh_from_db()
    package.refresh_from_db()
    settlement = Settlement.objects.get(auction=auction)
    world.objects[f"{name}_package"] = package
    world.objects[f"{name}_auction"] = auction
    world.objects[name] = settlement
    return settlement


def _settlements(world: World) -> None:
    """``awarded``: awaiting the registered buyer's payment. ``sold``: paid by it and its loans
    transferred (``transfer``). ``defaulted``: another buyer won and defaulted; the registered
    buyer is the runner-up."""
    registered = world.users["registered"]
    _sold_to(world, "awarded", registered)
    sold = _sold_to(world, "sold", registered)
    world.objects["transfer"] = TransferFactory(settlement=sold)
    for name in ("sold_package", "sold_auction", "sold"):
        world.objects[name].refresh_from_db()
    defaulter = make_bidder()
    world.objects["org:defaulter"] = defaulter.organization
    defaulted = _sold_to(world, "defaulted", defaulter, registered)
    Settlement.objects.filter(pk=defaulted.pk).update(
        due_at=timezone.now() - dt.timedelta(minutes=1)
    )
    settlements_default_due()
    defaulted.refresh_from_db()
    assert defaulted.status == "defaulted"
    world.objects["defaulted_package"].refresh_from_db()


def _ledger(world: World) -> None:
    entry = Entry.objects.filter(organization=world.org("registered")).order_by("pk").first()
    assert entry is not None
    world.objects["entry"] = entry


def _scheduled_auction(world: World) -> None:
    package = PackageFactory(created_by=world.users["seller"], status="approved")
    world.objects["scheduled_package"] = package
    world.objects["scheduled_auction"] = AuctionFactory(package=package, state="scheduled")


Builder = Callable[[World], None]
CORE_BUILDERS: list[Builder] = [
    _callers,
    _packages,
    _open_auction,
    _scheduled_auction,
    _settlements,
    _ledger,
]


def _webhooks(world: World) -> None:
    """A webhook endpoint of the seller's bank, with one delivery."""
    webhook = WebhookEndpointFactory(created_by=world.users["seller"])
    world.objects["webhook"] = webhook
    world.objects["delivery"] = DeliveryFactory(endpoint=webhook)


# Builders of other apps' objects (webhooks, market data...), run after the core ones.
BUILDERS: list[Builder] = [_webhooks]


def build_world() -> World:
    world = World()
    for builder in (*CORE_BUILDERS, *BUILDERS):
        builder(world)
    for obj in world.objects.values():
        if isinstance(obj, Model):
            obj.refresh_from_db()
    return world
