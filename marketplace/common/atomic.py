"""Guards for services that must run inside their caller's transaction."""

from __future__ import annotations

from django.db import connection


def require_atomic(what: str) -> None:
    """Refuse to run ``what`` outside ``transaction.atomic()``.

    A service that writes part of a larger change (an audit event, a ledger posting, a lock
    that must last until commit) calls this first, so that a caller who forgot the transaction
    fails loudly instead of committing half a change.
    """
    if not connection.in_atomic_block:
        raise RuntimeError(f"{what} must be called inside transaction.atomic()")
