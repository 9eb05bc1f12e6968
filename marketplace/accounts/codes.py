"""The error codes and audit actions of ``marketplace.accounts`` (see marketplace/common/codes.py).

Accounts refuses only with the generic codes (``validation_error``, ``invalid_state``,
``not_authenticated``, ...), so it declares no error code of its own.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """None: every refusal of accounts uses a generic code of ``marketplace.common``."""


class AuditAction(StrEnum):
    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_APPROVED = "organization.approved"
    ORGANIZATION_REJECTED = "organization.rejected"
    ORGANIZATION_SUSPENDED = "organization.suspended"
    USER_CREATED = "user.created"
    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
