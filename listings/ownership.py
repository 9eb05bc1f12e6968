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

from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Collate

from listings.models import Loan, Package
from marketplace.common.atomic import require_atomic
from marketplace.common.csv import safe_cell_sql

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

# A cell a spreadsheet would run as a formula gets a leading quote, by the rule every CSV
# export follows (marketplace.common.csv). Loan ids are free text in tapes.
_SAFE_LOAN_ID = safe_cell_sql("loan_id")

# One CSV line per loan, quoted as Python's csv module quotes (only a cell holding a comma, a
# quote or a line break; hashes and numbers never do).
_SCHEDULE_LINE = f"""
    CASE WHEN loan_id ~ '[",\\r\\n]' THEN '"' || replace(({_SAFE_LOAN_ID}), '"', '""') || '"'
         ELSE ({_SAFE_LOAN_ID}) END
    || ',' || borrower_hash || ',' || outstanding_principal || ',' || accrued_interest
    || ',' || fees_and_penalties || ',' || balance || ',' || days_past_due || E'\\n'"""

# One page of the schedule as one text value: PostgreSQL writes the lines, Python only passes
# them on. Pages follow loan_id in byte order (keyset, on the partial index of transfer_id).
_SCHEDULE_PAGE_SQL = f"""
WITH page AS (
    SELECT loan_id COLLATE "C" AS k, {_SCHEDULE_LINE} AS line
    FROM listings_loan
    WHERE transfer_id = %(transfer)s AND loan_id COLLATE "C" > %(after)s
    ORDER BY transfer_id, loan_id COLLATE "C"
    LIMIT %(size)s
)
SELECT string_agg(line, '' ORDER BY k), max(k), count(*) FROM page
"""  # noqa: S608  (no caller text: the columns are fixed, the values are parameters)
_SCHEDULE_PAGE_ROWS = 20_000


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
    """The loan schedule of a transfer as CSV (header first), in pages of 20,000 loans whose
    lines PostgreSQL writes: memory stays flat for any number of loans, and no Python code runs
    per loan."""
    yield (",".join(SCHEDULE_COLUMNS) + "\n").encode()
    after = ""
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                _SCHEDULE_PAGE_SQL,
                {"transfer": transfer_id, "after": after, "size": _SCHEDULE_PAGE_ROWS},
            )
            row = cursor.fetchone()
        assert row is not None  # an aggregate always returns one row
        text, last, count = row
        if not count:
            return
        yield text.encode("utf-8")
        if count < _SCHEDULE_PAGE_ROWS:
            return
        after = last
