"""Who may read a package's loan-level rows, and the audit of every access."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from listings.codes import AuditAction
from listings.models import DataRoomGrant, Package
from marketplace.audit.services import record

if TYPE_CHECKING:
    from marketplace.accounts.models import User


def data_room_grant(
    *, actor: User | None, package_id: int, organization_id: int, reason: str
) -> DataRoomGrant:
    """Open the data room to an organisation (bidding calls this when a buyer registers and
    accepts the NDA). Idempotent; run inside the caller's transaction or its own."""
    with transaction.atomic():
        grant, created = DataRoomGrant.objects.get_or_create(
            package_id=package_id, organization_id=organization_id, defaults={"reason": reason}
        )
        if created:
            record(
                action=AuditAction.DATA_ROOM_GRANTED,
                object_type="package",
                object_id=package_id,
                actor=actor,
                data={"organization_id": organization_id, "reason": reason},
            )
    return grant


def data_room_record_access(
    *, actor: User, package: Package, filters: dict[str, Any], row_count: int, export: bool
) -> None:
    """Every view and export of loan rows is an audit event."""
    with transaction.atomic():
        record(
            action=AuditAction.DATA_ROOM_ACCESSED,
            object_type="package",
            object_id=package.pk,
            actor=actor,
            data={
                "filters": filters,
                "row_count": row_count,
                "format": "csv" if export else "json",
            },
        )
