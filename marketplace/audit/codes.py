"""The error codes and audit actions of ``marketplace.audit`` (see marketplace/common/codes.py).

The audit log records the other apps' actions; reading, exporting and verifying it write no
event and refuse only with generic codes, so both lists are empty.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """None: the audit API refuses only with generic codes of ``marketplace.common``."""


class AuditAction(StrEnum):
    """None: the audit log records no action of its own."""
