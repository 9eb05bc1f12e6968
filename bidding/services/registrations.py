"""A buyer registers for an auction (NDA accepted); the platform confirms its deposit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from bidding.codes import AuditAction
from bidding.errors import AuctionNotOpen, BuyerNotEligible
from bidding.models import (
    ACTIVE_STATUSES,
    Auction,
    DepositStatus,
    PackageBar,
    Registration,
    RegistrationStatus,
)
from bidding.services.trail import auction_record, deposit_record
from listings import services as listing_services
from marketplace.accounts.models import Organization, User
from marketplace.common.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from marketplace.ledger import movements

# Licence types allowed to buy personal consumer NPLs on this platform.
ALLOWED_LICENCE_TYPES = frozenset({"national_amc", "local_amc", "financial_investment_company"})


def _check_eligible(actor: User) -> Organization:
    org = actor.organization
    if org is None or org.kind != "buyer":
        raise Forbidden("Only bidders of buyer organisations register for auctions.")
    if org.eligibility != "approved":
        raise BuyerNotEligible(f"Your organisation's eligibility is {org.eligibility}.")
    if org.licence_type not in ALLOWED_LICENCE_TYPES:
        raise BuyerNotEligible(
            f"Licence type {org.licence_type!r} may not buy personal consumer NPLs."
        )
    return org


def registration_create(*, actor: User, auction_id: int, accept_nda: bool) -> Registration:
    """A bidder registers its organisation: accepts the NDA; approved at once when the deposit
    is 0, else pending the platform's confirmation. Opens the package's data room to it.
    Locks the auction row: registration closes with the auction."""
    if accept_nda is not True:
        raise ValidationFailed(
            "The NDA must be accepted.", errors={"accept_nda": ["Must be true."]}
        )
    buyer = _check_eligible(actor)
    with transaction.atomic():
        auction = Auction.objects.select_for_update().get(pk=auction_id)
        if auction.status not in ACTIVE_STATUSES or timezone.now() >= auction.ends_at:
            raise AuctionNotOpen("Registration is closed for this auction.")
        if PackageBar.objects.filter(
            package_id=auction.package_id, buyer_id=actor.organization_id
        ).exists():
            raise BuyerNotEligible("Your organisation is barred from this package.")
        if Registration.objects.filter(auction=auction, buyer_id=actor.organization_id).exists():
            raise InvalidState("Your organisation is already registered for this auction.")
        registration = _registration_insert(auction, actor=actor, buyer=buyer)
        listing_services.data_room_grant(
            actor=actor,
            package_id=auction.package_id,
            organization_id=buyer.pk,
            reason=f"registered for auction {auction.pk} (NDA accepted)",
        )
    return registration


def _registration_insert(auction: Auction, *, actor: User, buyer: Organization) -> Registration:
    free = auction.deposit_amount == 0
    registration = Registration.objects.create(
        auction=auction,
        buyer_id=buyer.pk,
        registered_by=actor,
        status=RegistrationStatus.APPROVED if free else RegistrationStatus.PENDING_DEPOSIT,
        deposit_amount=auction.deposit_amount,
        nda_accepted_at=timezone.now(),
    )
    auction_record(
        auction.pk,
        AuditAction.REGISTRATION_CREATED,
        actor=actor,
        data={
            "registration_id": registration.pk,
            "status": registration.status,
            "nda_accepted": True,
            "deposit_amount": auction.deposit_amount,
        },
    )
    return registration


def registration_confirm_deposit(*, actor: User, registration_id: int) -> Registration:
    """Platform confirms a buyer's deposit: pending_deposit -> approved, deposit held (and
    posted to the ledger). Locks the auction row, then the registration."""
    with transaction.atomic():
        auction_id = (
            Registration.objects.filter(pk=registration_id)
            .values_list("auction_id", flat=True)
            .first()
        )
        if auction_id is None:
            raise NotFound("No such registration.")
        Auction.objects.select_for_update().get(pk=auction_id)
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        auction = registration.auction
        if registration.status != RegistrationStatus.PENDING_DEPOSIT:
            raise InvalidState(
                f"The registration is {registration.status}.",
                extra={"current_status": registration.status},
            )
        if auction.status not in ACTIVE_STATUSES:
            raise InvalidState(
                f"The auction is {auction.status}.", extra={"current_status": auction.status}
            )
        registration.status = RegistrationStatus.APPROVED
        registration.deposit_status = DepositStatus.HELD
        registration.deposit_confirmed_at = timezone.now()
        registration.save(update_fields=["status", "deposit_status", "deposit_confirmed_at"])
        deposit_record(AuditAction.DEPOSIT_CONFIRMED, registration, actor=actor)
        movements.deposit_held(
            buyer_id=registration.buyer_id,
            amount=registration.deposit_amount,
            registration_id=registration.pk,
            currency=auction.package.currency,
        )
    return registration
