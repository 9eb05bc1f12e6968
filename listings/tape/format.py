"""The loan tape format of API.md as data: its columns, in order, each of a kind (``kinds``).

``COLUMNS`` is the one list of the tape's columns. The loan table's columns a tape fills
(``LOAN_SCHEMA``, in the order both load paths write them) are derived from it, and each
column composes its kind's forms with its own checks into its full SQL rules, its strict SQL
test and its Arrow test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from listings.models import Classification, LegalStatus, ProductType
from listings.tape import kinds
from listings.tape.kinds import ArrowRow, Rule, SqlRow
from marketplace.common.codes import ErrorCode as CommonCode

PII_COLUMNS = frozenset(
    {
        "borrower_name",
        "name",
        "national_id",
        "id_number",
        "id_card",
        "phone",
        "mobile",
        "email",
        "address",
    }
)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    kind: kinds.Kind
    max_length: int = 100  # text
    choices: tuple[str, ...] = ()  # enum
    checks: tuple[kinds.Check, ...] = ()
    default: str | None = None  # the cell an empty one stands for in the loan table
    stored_as: str | None = None  # the loan table's column, when not the same name
    hashed: bool = False  # stored as its HMAC (``hashing``), never as written

    @property
    def stored_name(self) -> str:
        return self.stored_as or self.name

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.string() if self.hashed else self.kind.arrow_type

    def rules(self) -> list[Rule]:
        """The full check's rules over the trimmed cell, in the order they are checked."""
        rules = []
        if self.required:
            rules.append(
                Rule(
                    lambda v, row: f"{v} IS NULL",
                    CommonCode.INVALID_VALUE,
                    f"{self.name} is required",
                )
            )
        rules.extend(self.kind.rules(self))
        rules.extend(check.rule(self) for check in self.checks)
        return rules

    def strict_sql(self, row: SqlRow) -> str:
        """SQL true only for a cell, as written, that passes every rule (stricter allowed)."""
        c = row.cell(self.name)
        assert c is not None, self.name  # only columns present are tested
        tests = [self.kind.strict_sql(self, c, row)]
        tests.extend(t for check in self.checks if (t := check.strict_sql(self, c, row)))
        test = f"({' AND '.join(tests)})"
        return test if self.required else f"({c} IS NULL OR {test})"

    def arrow_ok(self, row: ArrowRow) -> pa.Array:
        """Boolean array: true where the cell passes the strict rules or is empty and
        optional; null and false both mean a miss."""
        cell = row.cells(self.name)
        ok = self.kind.arrow_ok(self, cell, row)
        for check in self.checks:
            ok = pc.and_(ok, check.arrow_ok(cell, ok, row))
        # An empty cell (null here) passes when the column is optional and misses when
        # required (some kernels answer false rather than null for a null input).
        return pc.if_else(pc.is_valid(cell), pc.fill_null(ok, False), not self.required)


COLUMNS: tuple[Column, ...] = (
    Column("loan_id", True, kinds.TEXT),
    Column("borrower_id", True, kinds.TEXT, max_length=200, stored_as="borrower_hash", hashed=True),
    Column("product_type", True, kinds.ENUM, choices=tuple(ProductType.values)),
    Column("currency", True, kinds.CURRENCY),
    Column("origination_date", True, kinds.DATE, checks=(kinds.NotAfterCutOff(),)),
    Column(
        "default_date",
        False,
        kinds.DATE,
        checks=(kinds.NotAfterCutOff(), kinds.NotBefore("origination_date")),
    ),
    Column("outstanding_principal", True, kinds.MONEY),
    Column("accrued_interest", True, kinds.MONEY),
    Column("fees_and_penalties", False, kinds.MONEY, default="0"),
    Column("days_past_due", True, kinds.INTEGER),
    Column("last_payment_date", False, kinds.DATE, checks=(kinds.NotAfterCutOff(),)),
    Column("last_payment_amount", False, kinds.MONEY),
    Column("interest_rate", False, kinds.RATE),
    Column("borrower_age", False, kinds.SMALL_INTEGER, checks=(kinds.Between(18, 100),)),
    Column("region", True, kinds.TEXT),
    Column("legal_status", True, kinds.ENUM, choices=tuple(LegalStatus.values)),
    # Empty means unclassified.
    Column("classification", False, kinds.ENUM, choices=tuple(Classification.values), default=""),
    Column("written_off", False, kinds.BOOL),
)
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)

# Balance = principal + interest + fees, stored in a money column: below 10^16 like each part.
BALANCE_PARTS = ("outstanding_principal", "accrued_interest", "fees_and_penalties")
BALANCE_LIMIT = "1e16"

# The loan table's columns a tape fills, in the order both paths write them, with the Arrow
# type of each (binary COPY takes exactly the column's type; each block is cast to these).
LOAN_SCHEMA = pa.schema(
    [
        ("package_id", pa.int64()),
        ("tape_import_id", pa.int64()),
        *((c.stored_name, c.arrow_type) for c in COLUMNS),
        ("balance", kinds.MONEY.arrow_type),
    ]
)
LOAN_COLUMNS = tuple(LOAN_SCHEMA.names)


def column_order(name: str | None) -> int:
    """A column's position in the format (errors are sorted by line, then this)."""
    names = [c.name for c in COLUMNS]
    return names.index(name) if name in names else -1
