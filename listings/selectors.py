"""Reads of listings, scoped to what the caller's organisation may see (API.md, Visibility)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from listings.codes import ErrorCode
from listings.models import (
    PUBLIC_STATUSES,
    DataRoomGrant,
    Loan,
    LoanTapeImport,
    Package,
    TapeStatus,
)
from marketplace.accounts.models import Eligibility, OrganizationKind, User
from marketplace.common.errors import DomainError, Forbidden
from marketplace.common.permissions import is_platform


class NdaRequired(DomainError):
    status_code = 403
    code = ErrorCode.NDA_REQUIRED
    default_detail = (
        "Loan-level data is open to buyers registered (NDA accepted) on an auction of this package."
    )


def package_visible_to(*, user: User) -> QuerySet[Package]:
    """Platform: every package. Others: public ones (approved, in auction, sold), plus, for a
    seller, all of its own (drafts, pending review, withdrawn)."""
    qs = Package.objects.select_related("seller")
    if is_platform(user):
        return qs
    return qs.filter(Q(status__in=PUBLIC_STATUSES) | Q(seller_id=user.organization_id))


def package_get_visible(*, user: User, package_id: int | str) -> Package:
    """The package, or 404 (``Package.DoesNotExist``) when the caller may not see it."""
    return package_visible_to(user=user).get(pk=package_id)


def package_is_seller(*, user: User, package: Package) -> bool:
    return package.seller_id == user.organization_id


_APPROVED_BUYER = (OrganizationKind.BUYER, Eligibility.APPROVED)


class BuyerNotApproved(Forbidden):
    default_detail = (
        "Your organisation is not an approved buyer (suspended or under review): the data "
        "room is closed to it until compliance approves it again."
    )


def data_room_allowed(*, user: User, package: Package) -> bool:
    """The seller, the platform, and buyers holding a grant (NDA accepted) while approved: a
    grant outlives a suspension, but a suspended buyer reads nothing (BuyerNotApproved)."""
    if is_platform(user) or package.seller_id == user.organization_id:
        return True
    if user.organization_id is None:  # no organisation, no grant
        return False
    granted = DataRoomGrant.objects.filter(
        package_id=package.pk, organization_id=user.organization_id
    ).exists()
    org = user.organization
    if granted and org is not None and (org.kind, org.eligibility) != _APPROVED_BUYER:
        raise BuyerNotApproved()
    return granted


def data_room_loans(*, user: User, package: Package, owner_me: bool = False) -> QuerySet[Loan]:
    """Loan rows of the package's current tape, or NdaRequired (BuyerNotApproved for a buyer
    that holds a grant but is not approved).

    ``owner_me``: only the loans the caller's organisation owns (after a transfer); open to the
    owner even without a data-room grant, and even while suspended: they are its loans."""
    loans = Loan.objects.filter(package_id=package.pk, tape_import_id=package.current_tape_id)
    if owner_me:
        return loans.filter(owner_id=user.organization_id).order_by("id")
    if not data_room_allowed(user=user, package=package):
        raise NdaRequired()
    return loans.order_by("id")


def loan_tape_latest(*, package: Package) -> LoanTapeImport | None:
    return package.latest_tape


def tape_imports_due(
    *,
    pending_after: timedelta = timedelta(seconds=30),
    stale_after: timedelta = timedelta(minutes=15),
) -> QuerySet[LoanTapeImport, int]:
    now = timezone.now()
    return LoanTapeImport.objects.filter(
        Q(status=TapeStatus.PENDING, created_at__lt=now - pending_after)
        | Q(status=TapeStatus.PROCESSING, started_at__lt=now - stale_after)
    ).values_list("id", flat=True)
