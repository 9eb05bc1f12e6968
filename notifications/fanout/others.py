"""Packages, loan tapes, organisations and webhook endpoints: the organisation concerned and,
for reviews and eligibility, the platform. A loan tape's import concerns its seller only."""

from __future__ import annotations

from collections.abc import Iterable

from listings.codes import AuditAction as Listings
from listings.models import Package
from marketplace.accounts.codes import AuditAction as Accounts
from marketplace.audit.models import AuditEvent
from notifications.codes import AuditAction as Notifications
from notifications.fanout import Notice, handles, pick, platform_ids, to_all


@handles(
    Listings.PACKAGE_SUBMITTED,
    Listings.PACKAGE_APPROVED,
    Listings.PACKAGE_REJECTED,
    Listings.PACKAGE_WITHDRAWN,
)
def package_reviewed(event: AuditEvent) -> Iterable[Notice]:
    package_id = int(event.object_id)
    seller = Package.objects.values_list("seller_id", flat=True).get(pk=package_id)
    data = {"package_id": package_id, **pick(event.data, "from", "to")}
    return to_all(event.action, [seller, *platform_ids()], data)


@handles(Listings.LOAN_TAPE_IMPORTED, Listings.LOAN_TAPE_FAILED)
def loan_tape_processed(event: AuditEvent) -> Iterable[Notice]:
    package_id = int(event.object_id)
    seller = Package.objects.values_list("seller_id", flat=True).get(pk=package_id)
    fields = (
        ("import_id", "rows")
        if event.action == Listings.LOAN_TAPE_IMPORTED
        else (
            "import_id",
            "error_count",
        )
    )
    return to_all(event.action, [seller], {"package_id": package_id, **pick(event.data, *fields)})


@handles(
    Accounts.ORGANIZATION_APPROVED,
    Accounts.ORGANIZATION_REJECTED,
    Accounts.ORGANIZATION_SUSPENDED,
)
def organization_reviewed(event: AuditEvent) -> Iterable[Notice]:
    organization_id = int(event.object_id)
    data = {"organization_id": organization_id, **pick(event.data, "from", "to")}
    return to_all(event.action, [organization_id, *platform_ids()], data)


@handles(Notifications.WEBHOOK_DISABLED)
def webhook_disabled(event: AuditEvent) -> Iterable[Notice]:
    data = {"webhook_id": int(event.object_id), **pick(event.data, "consecutive_failures")}
    return to_all(event.action, [event.actor_organization_id], data)
