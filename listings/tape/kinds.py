"""The registry of column kinds: each kind declares every form of its rule in one place.

A kind (text, enum, currency, money, rate, integer, date, bool) yields:

- ``rules``: the format's full check, as SQL conditions over the trimmed cell (true when the
  cell is invalid), each with its error code and message. The SQL path runs these to decide and
  report every error of a tape.
- ``strict_sql``: a SQL test over the cell as written, true only for cells that pass the rule;
  it may be stricter than the format, never more lenient. The SQL path's one-pass load uses it.
- ``arrow_ok``: the same strict test as an Arrow kernel over a block of cells (the fast path).
- ``cast_sql`` and ``arrow_type``: what a valid cell becomes in the loan table.

A rule that reaches other cells of the row (a date not after the cut-off, a date not before
another column, a number in a range) is a :class:`Check` attached to a column, with the same
three forms. PostgreSQL's own parsers are more lenient than the format (they read ``20191231``,
``Dec 31 2019``, ``1e3``, ``1_000`` or ``yes``), so the SQL checks test the text first and cast
only cells that passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from listings.codes import ErrorCode, TapeErrorCode
from marketplace.common.codes import ErrorCode as CommonCode

if TYPE_CHECKING:
    from listings.tape.format import Column


@dataclass(frozen=True)
class SqlRow:
    """How SQL reaches a row's cells (``c<position>``) and the package's terms."""

    positions: dict[str, int]
    cut_off: dt.date
    currency: str  # constrained to [A-Z]{3}: safe as a literal

    def cell(self, name: str) -> str | None:
        return f"c{self.positions[name]}" if name in self.positions else None

    @property
    def cut_off_sql(self) -> str:
        return f"DATE '{self.cut_off.isoformat()}'"  # a date: safe as a literal

    @property
    def currency_sql(self) -> str:
        return f"'{self.currency}'"


@dataclass(frozen=True)
class ArrowRow:
    """A block's cells by column name (all null when the column is absent) and the terms."""

    cells: Callable[[str], pa.Array]
    cut_off: dt.date
    currency: str


@dataclass(frozen=True)
class Rule:
    """``condition(v, row)``: SQL true when the cell ``v`` breaks the rule."""

    condition: Callable[[str, SqlRow], str]
    code: TapeErrorCode
    message: str


def _sql_array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _numeric_ok(v: str, places: int, digits: int) -> str:
    """SQL: v is a plain non-negative decimal with at most ``places`` places, below 10^digits.

    Built from PostgreSQL's own numeric parser (much faster than a regular expression). Only
    digits and ``.`` may appear, the first a digit: the parser alone would also take signs,
    exponents (``1e3``), underscores (``1_000``), ``0x1F``, NaN and Infinity."""
    return (
        f"(left({v}, 1) BETWEEN '0' AND '9' AND ltrim({v}, '0123456789.') = '' "
        f"AND pg_input_is_valid({v}, 'numeric') "
        f"AND scale({v}::numeric) <= {places} AND {v}::numeric < 1e{digits})"
    )


def date_ok(v: str) -> str:
    """SQL: v is a valid calendar date written YYYY-MM-DD."""
    return (
        f"COALESCE(length({v}) = 10 AND substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' "
        f"AND left({v}, 1) BETWEEN '0' AND '9' AND pg_input_is_valid({v}, 'date'), false)"
    )


class Kind:
    """One kind of cell. Subclasses fill in every form of the rule."""

    arrow_type: pa.DataType = pa.string()
    sql_type: str = ""  # the cast of a valid cell (``::date``), empty for text

    def rules(self, column: Column) -> list[Rule]:
        raise NotImplementedError

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        raise NotImplementedError

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        raise NotImplementedError

    def cast_sql(self, cell: str, *, trimmed: bool) -> str:
        """A valid cell as its SQL value; ``trimmed`` cells passed the full rules only."""
        return f"{cell}{self.sql_type}"


class Text(Kind):
    def rules(self, column: Column) -> list[Rule]:
        limit = column.max_length
        return [
            Rule(
                lambda v, row: f"length({v}) > {limit}",
                CommonCode.INVALID_VALUE,
                f"{column.name} is longer than {limit} characters",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"({c} <> '' AND length({c}) <= {column.max_length} AND btrim({c}) = {c})"

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        # Untrimmed cells and quote characters go to the SQL path, which trims and which reads
        # quotes as PostgreSQL's CSV parser does.
        untrimmed = pc.or_(pc.starts_with(cell, " "), pc.ends_with(cell, " "))
        return pc.and_(
            pc.less_equal(pc.utf8_length(cell), column.max_length),
            pc.invert(pc.or_(untrimmed, pc.match_substring(cell, '"'))),
        )


class OneOf(Kind):
    def rules(self, column: Column) -> list[Rule]:
        choices = _sql_array(column.choices)
        return [
            Rule(
                lambda v, row: f"NOT ({v} = ANY({choices}))",
                CommonCode.INVALID_VALUE,
                f"{column.name} must be one of: {', '.join(column.choices)}",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"({c} = ANY({_sql_array(column.choices)}))"

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.is_in(cell, value_set=pa.array(column.choices, pa.string()))


class Currency(Kind):
    """An ISO 4217 code, equal to the package's currency."""

    def rules(self, column: Column) -> list[Rule]:
        return [
            Rule(
                lambda v, row: f"{v} <> {row.currency_sql} AND {v} !~ '^[A-Z]{{3}}$'",
                CommonCode.INVALID_VALUE,
                f"{column.name} must be an ISO 4217 code",
            ),
            Rule(
                lambda v, row: f"{v} <> {row.currency_sql}",
                ErrorCode.CURRENCY_MISMATCH,
                f"{column.name} differs from the package currency",
            ),
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"({c} = {row.currency_sql})"

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.equal(cell, row.currency)


class PlainDecimal(Kind):
    """A plain non-negative decimal below 10^digits with at most ``places`` places."""

    sql_type = "::numeric"

    def __init__(self, *, places: int, digits: int, precision: int, message: str) -> None:
        self.places, self.digits, self.message = places, digits, message
        self.arrow_type = pa.decimal128(precision, places)
        # Anchored RE2 pattern for the fast path: no sign, exponent or separator.
        self.pattern = rf"^[0-9]{{1,{digits}}}(\.[0-9]{{1,{places}}})?$"

    def rules(self, column: Column) -> list[Rule]:
        return [
            Rule(
                lambda v, row: f"NOT COALESCE({_numeric_ok(v, self.places, self.digits)}, false)",
                CommonCode.INVALID_VALUE,
                f"{column.name} must be {self.message}",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        integer_part = (
            f"(CASE WHEN strpos({c}, '.') = 0 THEN length({c}) ELSE strpos({c}, '.') - 1 END)"
        )
        return (
            f"(left({c}, 1) BETWEEN '0' AND '9' AND ltrim({c}, '0123456789.') = '' "
            f"AND length({c}) - length(replace({c}, '.', '')) <= 1 "
            f"AND (strpos({c}, '.') = 0 OR length({c}) - strpos({c}, '.') "
            f"BETWEEN 1 AND {self.places}) AND {integer_part} <= {self.digits})"
        )

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.match_substring_regex(cell, self.pattern)


class Integer(Kind):
    """Digits only, nine at most (the parser also takes signs, 1_000 and 0x1F)."""

    sql_type = "::integer"
    pattern = r"^[0-9]{1,9}$"  # fits an integer column

    def __init__(self, arrow_type: pa.DataType) -> None:
        self.arrow_type = arrow_type

    def rules(self, column: Column) -> list[Rule]:
        return [
            Rule(
                lambda v, row: (
                    f"NOT COALESCE(ltrim({v}, '0123456789') = '' AND "
                    f"pg_input_is_valid({v}, 'integer'), false)"
                ),
                CommonCode.INVALID_VALUE,
                f"{column.name} must be an integer >= 0",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"({c} <> '' AND ltrim({c}, '0123456789') = '' AND length({c}) <= 9)"

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.match_substring_regex(cell, self.pattern)


class Date(Kind):
    """A calendar date written YYYY-MM-DD."""

    arrow_type = pa.date32()
    sql_type = "::date"
    # Years 1000-2999; Arrow's conversion then refuses a day the month does not have, as
    # PostgreSQL does (both use the proleptic Gregorian calendar; they differ on year 0).
    pattern = r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

    def rules(self, column: Column) -> list[Rule]:
        return [
            Rule(
                lambda v, row: f"NOT {date_ok(v)}",
                CommonCode.INVALID_VALUE,
                f"{column.name} must be a date YYYY-MM-DD",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        # The cast raises on an impossible date (2019-02-30), which the one pass takes as a miss.
        return (
            f"(length({c}) = 10 AND substr({c}, 5, 1) = '-' AND substr({c}, 8, 1) = '-' "
            f"AND ltrim({c}, '0123456789-') = '' AND {c}::date IS NOT NULL)"
        )

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.match_substring_regex(cell, self.pattern)


class Bool(Kind):
    arrow_type = pa.bool_()

    def rules(self, column: Column) -> list[Rule]:
        return [
            Rule(
                lambda v, row: f"lower({v}) NOT IN ('true', 'false')",
                CommonCode.INVALID_VALUE,
                f"{column.name} must be true or false",
            )
        ]

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"({c} IN ('true', 'false'))"

    def arrow_ok(self, column: Column, cell: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.is_in(cell, value_set=pa.array(["true", "false"], pa.string()))

    def cast_sql(self, cell: str, *, trimmed: bool) -> str:
        return f"lower({cell})::boolean" if trimmed else f"{cell}::boolean"


TEXT = Text()
ENUM = OneOf()
CURRENCY = Currency()
MONEY = PlainDecimal(
    places=2,
    digits=16,
    precision=18,  # numeric(18, 2)
    message="a decimal >= 0 with at most 2 places, no separators",
)
RATE = PlainDecimal(places=4, digits=5, precision=9, message="a decimal percent >= 0")
INTEGER = Integer(pa.int32())
SMALL_INTEGER = Integer(pa.int16())
DATE = Date()
BOOL = Bool()


# --------------------------------------------------------------------------- checks


class Check:
    """A column's rule beyond its kind, in the same three forms. It sees only cells that
    passed the kind's rule (``valid`` in Arrow; in SQL, the kind's WHEN comes first)."""

    def rule(self, column: Column) -> Rule:
        raise NotImplementedError

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str | None:
        raise NotImplementedError

    def arrow_ok(self, cell: pa.Array, valid: pa.Array, row: ArrowRow) -> pa.Array:
        raise NotImplementedError


class NotAfterCutOff(Check):
    def rule(self, column: Column) -> Rule:
        return Rule(
            lambda v, row: f"{v}::date > {row.cut_off_sql}",
            ErrorCode.DATE_AFTER_CUT_OFF,
            f"{column.name} is after the cut-off date",
        )

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"{c}::date <= {row.cut_off_sql}"

    def arrow_ok(self, cell: pa.Array, valid: pa.Array, row: ArrowRow) -> pa.Array:
        # Same-length ISO dates compare as strings exactly as they compare as dates.
        return pc.less_equal(cell, row.cut_off.isoformat())


@dataclass(frozen=True)
class NotBefore(Check):
    """A date not before another date column of the row (when that one is valid)."""

    other: str

    def rule(self, column: Column) -> Rule:
        def condition(v: str, row: SqlRow) -> str:
            other = row.cell(self.other) or "NULL::text"
            return f"{date_ok(other)} AND {v}::date < {other}::date"

        return Rule(condition, CommonCode.INVALID_VALUE, f"{column.name} is before {self.other}")

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str | None:
        other = row.cell(self.other)
        return None if other is None else f"{c}::date >= {other}::date"

    def arrow_ok(self, cell: pa.Array, valid: pa.Array, row: ArrowRow) -> pa.Array:
        return pc.fill_null(pc.greater_equal(cell, row.cells(self.other)), True)


@dataclass(frozen=True)
class Between(Check):
    """An integer within [low, high]."""

    low: int
    high: int

    def rule(self, column: Column) -> Rule:
        return Rule(
            lambda v, row: f"{v}::int NOT BETWEEN {self.low} AND {self.high}",
            CommonCode.INVALID_VALUE,
            f"{column.name} must be between {self.low} and {self.high}",
        )

    def strict_sql(self, column: Column, c: str, row: SqlRow) -> str:
        return f"{c}::integer BETWEEN {self.low} AND {self.high}"

    def arrow_ok(self, cell: pa.Array, valid: pa.Array, row: ArrowRow) -> pa.Array:
        number = pc.cast(pc.if_else(pc.fill_null(valid, False), cell, str(self.low)), pa.int64())
        return pc.and_(pc.greater_equal(number, self.low), pc.less_equal(number, self.high))
