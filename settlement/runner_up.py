"""After a default, the seller may offer the package to the auction's runner-up.

The offer is a new settlement of the same auction to the next-highest bidder still eligible, at
its own highest bid, due after the auction's payment window from now. Its deposit was released
at the close, so nothing is applied: the whole price is due. The package goes back to
``in_auction`` until that settlement completes (``sold``) or defaults (``approved`` again).

Lock order: the defaulted settlement row, then the package row; the checks run after both locks.
An auction created meanwhile takes the package row too (``auction_start``), so the two serialise;
the settlement's constraints (one live per auction, one per bid, one offer per default) back it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bidding import rules
from bidding.models import Auction, AuctionStatus, Bid, PackageBar, RegistrationStatus
from bidding.services.registrations import ALLOWED_LICENCE_TYPES
from listings import services as listing_services
from listings.models import Package, PackageStatus
from marketplace.accounts.models import User
from marketplace.common.errors import Forbidden, InvalidState
from marketplace.common.permissions import DISPOSAL_OFFICER, role_of
from marketplace.ledger import movements
from settlement.codes import AuditAction
from settlement.errors import NoRunnerUp
from settlement.models import Settlement, SettlementStatus
from settlement.payments import locked_settlement
from settlement.trail import settlement_record


def runner_up_bid(auction: Auction) -> Bid | None:
    """The bid to offer the package to: among bids of buyers still eligible, the one that would
    lead (``rules.leader``: the highest amount, ties to the earliest). Eligible: organisation
    approved with an allowed licence, registration approved, not barred from the package, and
    never settled on this auction (not the winner, not an earlier runner-up)."""
    settled = Settlement.objects.filter(auction=auction).values("buyer_id")
    barred = PackageBar.objects.filter(package_id=auction.package_id).values("buyer_id")
    bids = (
        Bid.objects.filter(
            auction=auction,
            buyer__eligibility="approved",
            buyer__licence_type__in=ALLOWED_LICENCE_TYPES,
            registration__status=RegistrationStatus.APPROVED,
        )
        .exclude(buyer_id__in=settled)
        .exclude(buyer_id__in=barred)
    )
    return rules.leader(bids)


def _check_offer(actor: User, defaulted: Settlement) -> None:
    if role_of(actor) != DISPOSAL_OFFICER or actor.organization_id != defaulted.seller_id:
        raise Forbidden("Only the seller offers a defaulted sale to the runner-up.")
    if defaulted.status != SettlementStatus.DEFAULTED:
        raise InvalidState(
            f"Only a defaulted settlement is offered on; this one is {defaulted.status}.",
            extra={"current_status": defaulted.status},
        )
    if Settlement.objects.filter(runner_up_of=defaulted).exists():
        raise InvalidState(
            "This defaulted settlement was already offered to the runner-up.",
            extra={"current_status": defaulted.status},
        )


def _check_package(defaulted: Settlement, package: Package) -> None:
    if package.status != PackageStatus.APPROVED:
        raise InvalidState(
            f"The package is {package.status}.", extra={"current_status": package.status}
        )
    auctioned_again = (
        Auction.objects.filter(package_id=package.pk, pk__gt=defaulted.auction_id)
        .exclude(status=AuctionStatus.CANCELLED)
        .exists()
    )
    if auctioned_again:
        raise InvalidState(
            "The package was auctioned again.", extra={"current_status": package.status}
        )


def settlement_offer_runner_up(*, actor: User, settlement_id: int) -> Settlement:
    """The seller offers a defaulted sale to the runner-up (see the module docstring): 201 a
    new settlement with ``runner_up_of``, ``settlement_due`` posted, the package back to
    ``in_auction``, ``settlement.runner_up_offered`` recorded on the new settlement.

    Refused: 403 to anyone but the seller's disposal officers; 409 ``invalid_state`` unless
    the settlement is defaulted, not offered on before, and its package is ``approved`` and not
    auctioned again; 409 ``no_runner_up`` when no eligible bidder is left."""
    with transaction.atomic():
        defaulted = locked_settlement(settlement_id)
        _check_offer(actor, defaulted)
        package = Package.objects.select_for_update().get(pk=defaulted.package_id)
        _check_package(defaulted, package)
        auction = Auction.objects.get(pk=defaulted.auction_id)
        bid = runner_up_bid(auction)
        if bid is None:
            raise NoRunnerUp()
        offer = Settlement.objects.create(
            auction=auction,
            bid=bid,
            package_id=package.pk,
            seller_id=defaulted.seller_id,
            buyer_id=bid.buyer_id,
            price=bid.amount,
            deposit_applied=Decimal(0),
            balance_due=bid.amount,
            due_at=timezone.now() + dt.timedelta(hours=auction.payment_window_hours),
            runner_up_of=defaulted,
        )
        listing_services.package_transition(
            actor=actor,
            package_id=package.pk,
            name="auction_start",
            data={"settlement_id": offer.pk, "reason": "runner_up_offered"},
        )
        movements.settlement_due(
            buyer_id=offer.buyer_id,
            seller_id=offer.seller_id,
            price=offer.price,
            settlement_id=offer.pk,
            currency=package.currency,
        )
        _record_offer(offer, defaulted, actor=actor)
    return offer


def _record_offer(offer: Settlement, defaulted: Settlement, *, actor: User) -> None:
    settlement_record(
        offer.pk,
        AuditAction.SETTLEMENT_RUNNER_UP_OFFERED,
        actor=actor,
        data={
            "runner_up_of": defaulted.pk,
            "defaulted_buyer_id": defaulted.buyer_id,
            "auction_id": offer.auction_id,
            "bid_id": offer.bid_id,
            "buyer_id": offer.buyer_id,
            "price": offer.price,
            "deposit_applied": offer.deposit_applied,
            "balance_due": offer.balance_due,
            "due_at": offer.due_at,
        },
    )
