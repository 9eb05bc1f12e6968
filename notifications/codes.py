"""The problem+json codes notifications raises and the audit actions it records, each declared
once (see marketplace/common/codes.py). Event *types* (what integrators receive) are declared in
``notifications.catalog``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from marketplace.common.codes import ErrorSpec


class ErrorCode(StrEnum):
    INVALID_URL = "invalid_url"


ERRORS: Mapping[ErrorCode, ErrorSpec] = {
    ErrorCode.INVALID_URL: ErrorSpec(
        400,
        "The webhook URL is not allowed.",
        "A webhook URL that is not https, does not resolve, or resolves to a loopback, "
        "link-local, private or reserved address (allowed for http/https to private and "
        "loopback addresses only with WEBHOOK_ALLOW_PRIVATE_URLS).",
    ),
}


class AuditAction(StrEnum):
    """Recorded in the endpoint's stream (``webhook:<id>``), except ``settlement.due_soon``,
    which goes to the settlement's stream."""

    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_REDELIVERY_REQUESTED = "webhook.redelivery_requested"
    SETTLEMENT_DUE_SOON = "settlement.due_soon"
