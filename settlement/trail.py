"""Settlement's audit trail: each settlement's events go to its own stream
(``settlement:<id>``), inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from marketplace.accounts.models import User
from marketplace.audit.services import record
from settlement.codes import AuditAction


def settlement_record(
    settlement_id: int, action: AuditAction, *, actor: User | None, data: dict[str, Any]
) -> None:
    """Record ``action`` on the settlement; ``actor`` None is the system (a worker, the clock)."""
    record(action=action, object_type="settlement", object_id=settlement_id, actor=actor, data=data)
