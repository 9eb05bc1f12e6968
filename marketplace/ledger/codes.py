"""The error codes of ``marketplace.ledger`` (see marketplace/common/codes.py).

Postings are recorded by the ledger's own append-only entries, not by audit events: the domain
action that moves money (``deposit.confirmed``, ``settlement.created``, ...) is audited by the
app that performs it, in the same transaction as its posting.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # A caller asked for a posting whose entries do not sum to zero: a bug, refused before the
    # database's deferred trigger would refuse it at commit.
    LEDGER_UNBALANCED = "ledger_unbalanced"


class AuditAction(StrEnum):
    """None: the ledger records no audit action of its own."""
