"""Every problem+json ``code`` the listings app raises and every audit action it records.

The values are the wire values of API.md (error codes, including the loan tape's per-row codes
reported in an import's ``errors``) and the audit log's dotted action names; never build either
with an f-string: a transition name maps to its action through ``PACKAGE_TRANSITION_ACTIONS``.
"""

from __future__ import annotations

from enum import StrEnum

from marketplace.common.codes import ErrorCode as CommonCode


class ErrorCode(StrEnum):
    # The generic codes a tape or an upload also uses (``invalid_value`` for a cell, a row or the
    # tape's totals; ``payload_too_large``) are common's: see marketplace.common.codes.
    # Loan tape codes (API.md "Loan tape"): in an import's errors, line by line.
    MISSING_COLUMN = "missing_column"
    DUPLICATE_LOAN_ID = "duplicate_loan_id"
    CURRENCY_MISMATCH = "currency_mismatch"
    DATE_AFTER_CUT_OFF = "date_after_cut_off"
    PII_NOT_ALLOWED = "pii_not_allowed"
    INVALID_ENCODING = "invalid_encoding"
    EMPTY_TAPE = "empty_tape"
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"  # also the upload's 400
    INVALID_FILE = "invalid_file"
    # HTTP problems of the listings endpoints.
    NDA_REQUIRED = "nda_required"


class AuditAction(StrEnum):
    PACKAGE_CREATED = "package.created"
    PACKAGE_UPDATED = "package.updated"
    PACKAGE_SUBMITTED = "package.submitted"
    PACKAGE_APPROVED = "package.approved"
    PACKAGE_REJECTED = "package.rejected"
    PACKAGE_WITHDRAWN = "package.withdrawn"
    # The transitions bidding and settlement drive through ``package_transition``.
    PACKAGE_AUCTION_START = "package.auction_start"
    PACKAGE_RETURN_TO_MARKET = "package.return_to_market"
    PACKAGE_SELL = "package.sell"
    LOAN_TAPE_UPLOADED = "loan_tape.uploaded"
    LOAN_TAPE_IMPORTED = "loan_tape.imported"
    LOAN_TAPE_FAILED = "loan_tape.failed"
    DATA_ROOM_GRANTED = "data_room.granted"
    DATA_ROOM_ACCESSED = "data_room.accessed"


# ``package_transition``'s names (PACKAGE_TRANSITIONS) -> the action each records.
PACKAGE_TRANSITION_ACTIONS: dict[str, AuditAction] = {
    "auction_start": AuditAction.PACKAGE_AUCTION_START,
    "return_to_market": AuditAction.PACKAGE_RETURN_TO_MARKET,
    "sell": AuditAction.PACKAGE_SELL,
}


# A code in a tape import's errors: the tape's own, or common's ``invalid_value``.
TapeErrorCode = ErrorCode | CommonCode
