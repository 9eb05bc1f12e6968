"""Who owns a package's loans: the one set-based move of every loan to its buyer, and the loan
schedule of a transfer (the rows the move stamped).

Listings owns ``listings_loan``: settlement's transfer service calls ``loans_move_to_owner``
inside its transaction and never writes the table itself. The move is one ``UPDATE`` of every
loan of the package's current tape (no Python loop over loans) whose ``RETURNING`` rows are
aggregated by the same statement into the count, the total balance and the digest (API.md,
"Transfer digest"): lowercase hex SHA-256 of the lines ``loan_id,balance`` + newline (balance
with its two decimals, as ``numeric(18, 2)`` prints it), ordered by ``loan_id`` in byte order
(``COLLATE "C"``), concatenated in UTF-8. The loans never travel to Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Collate

from listings.models import Loan, Package
from marketplace.common.atomic import require_atomic

# The loan schedule (API.md, GET /transfers/{id}/loans/): wire field -> loan column.
SCHEDULE_COLUMNS: dict[str, str] = {
    "loan_id": "loan_id",
    "borrower_hash": "borrower_hash",
    "principal": "outstanding_principal",
    "interest": "accrued_interest",
    "fees": "fees_and_penalties",
    "balance": "balance",
    "days_past_due": "days_past_due",
}

_PIECE = 1 << 18

_MOVE_SQL = """
WITH moved AS (
    UPDATE listings_loan
    SET owner_id = %(owner)s, transfer_id = %(transfer)s
    WHERE tape_import_id = %(tape)s AND package_id = %(package)s AND transfer_id IS NULL
    RETURNING loan_id, balance
)
SELECT count(*),
       COALESCE(sum(balance), 0),
       encode(sha256(convert_to(COALESCE(
           string_agg(loan_id || ',' || balance::text || E'\\n', '' ORDER BY loan_id COLLATE "C"),
           ''), 'UTF8')), 'hex')
FROM moved
"""

# A cell a spreadsheet would run as a formula gets a leading quote, as marketplace.common.csv
# does for the other exports (a plain number is left alone). Loan ids are free text in tapes.
_SAFE_LOAN_ID = """CASE WHEN left(loan_id, 1) IN ('=', '+', '-', '@')
        AND loan_id !~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$'
    THEN '''' || loan_id ELSE loan_id END"""

_SCHEDULE_COPY_SQL = f"""
COPY (
    SELECT {_SAFE_LOAN_ID}, borrower_hash, outstanding_principal, accrued_interest,
           fees_and_penalties, balance, days_past_due
    FROM listings_loan
    WHERE transfer_id = %s
    ORDER BY transfer_id, loan_id COLLATE "C"
) TO STDOUT WITH (FORMAT csv)
"""  # noqa: S608  (no caller text: the columns are fixed, the id is a parameter)


@dataclass(frozen=True)
class LoansMoved:
    """What one move did: how many loans, their total balance and their digest."""

    count: int
    total_balance: Decimal
    digest: str


def loans_move_to_owner(*, package: Package, owner_id: int, transfer_id: int) -> LoansMoved:
    """Give every loan of the package's current tape to ``owner_id``, stamped ``transfer_id``.

    Must run inside the caller's transaction (the transfer holds the settlement and package
    locks there). Only loans not yet transferred move, so running it twice moves nothing the
    second time (and the caller's record of the first move stays the only one)."""
    require_atomic("listings.loans_move_to_owner")
    params = {
        "owner": owner_id,
        "transfer": transfer_id,
        "tape": package.current_tape_id,
        "package": package.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_SQL, params)
        row = cursor.fetchone()
    assert row is not None  # an aggregate always returns one row
    count, total, digest = row
    return LoansMoved(count=int(count), total_balance=Decimal(total), digest=str(digest))


def transfer_loans(*, transfer_id: int) -> QuerySet[Loan]:
    """The loans a transfer moved, in the byte order of ``loan_id`` (the digest's order)."""
    return Loan.objects.filter(transfer_id=transfer_id).order_by(
        "transfer_id", Collate("loan_id", "C")
    )


def transfer_schedule_csv(*, transfer_id: int) -> Iterator[bytes]:
    """The loan schedule of a transfer as CSV (header first), streamed from PostgreSQL's
    ``COPY ... TO STDOUT`` in the chunks it sends: memory stays flat for any number of loans."""
    yield (",".join(SCHEDULE_COLUMNS) + "\n").encode()  # COPY's CSV ends lines with \n too
    with connection.cursor() as cursor:
        raw: Any = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with raw.copy(_SCHEDULE_COPY_SQL, [transfer_id]) as copy:
            # COPY hands over one row at a time; the response writes pieces of ~256 KiB.
            piece = bytearray()
            for row in copy:
                piece += row
                if len(piece) >= _PIECE:
                    yield bytes(piece)
                    piece.clear()
            if piece:
                yield bytes(piece)
