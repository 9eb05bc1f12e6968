"""The loan tape format of API.md as data: columns, rules, PII names, and SQL checks.

Validation runs in PostgreSQL over a staging table of text columns (one scan for every rule),
so a million-row tape is checked at database speed. Each rule is (condition, code, message):
``condition`` is SQL over ``{v}``, the trimmed cell (NULL when empty), and is true when the cell
is invalid. The cells are checked as written: PostgreSQL's own parsers are more lenient than the
format (they read ``20191231``, ``Dec 31 2019``, ``1e3``, ``1_000`` or ``yes``), so a value is only
cast once it has passed these rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from listings.models import Classification, LegalStatus, ProductType

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


def _numeric_ok(v: str, places: int, limit: str) -> str:
    """SQL: v is a plain non-negative decimal with at most ``places`` places, below ``limit``.

    Built from PostgreSQL's own numeric parser (much faster than a regular expression). Only
    digits and ``.`` may appear, the first a digit: the parser alone would also take signs,
    exponents (``1e3``), underscores (``1_000``), ``0x1F``, NaN and Infinity."""
    return (
        f"(left({v}, 1) BETWEEN '0' AND '9' AND ltrim({v}, '0123456789.') = '' "
        f"AND pg_input_is_valid({v}, 'numeric') "
        f"AND scale({v}::numeric) <= {places} AND {v}::numeric < {limit})"
    )


def date_ok(v: str) -> str:
    """SQL: v is a valid calendar date written YYYY-MM-DD."""
    return (
        f"COALESCE(length({v}) = 10 AND substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' "
        f"AND left({v}, 1) BETWEEN '0' AND '9' AND pg_input_is_valid({v}, 'date'), false)"
    )


def _enum(values) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    kind: str  # text | enum | decimal | rate | integer | date | bool | currency
    max_length: int = 100
    choices: tuple[str, ...] = ()
    extra: tuple[tuple[str, str, str], ...] = field(default=())

    def rules(self) -> list[tuple[str, str, str]]:
        """(condition over {v}, code, message) in the order they are checked."""
        rules: list[tuple[str, str, str]] = []
        if self.required:
            rules.append(("{v} IS NULL", "invalid_value", f"{self.name} is required"))
        if self.kind == "text":
            rules.append(
                (
                    f"length({{v}}) > {self.max_length}",
                    "invalid_value",
                    f"{self.name} is longer than {self.max_length} characters",
                )
            )
        elif self.kind == "enum":
            rules.append(
                (
                    f"NOT ({{v}} = ANY({_enum(self.choices)}))",
                    "invalid_value",
                    f"{self.name} must be one of: {', '.join(self.choices)}",
                )
            )
        elif self.kind == "decimal":
            rules.append(
                (
                    f"NOT COALESCE({_numeric_ok('{v}', 2, '1e16')}, false)",
                    "invalid_value",
                    f"{self.name} must be a decimal >= 0 with at most 2 places, no separators",
                )
            )
        elif self.kind == "rate":
            rules.append(
                (
                    f"NOT COALESCE({_numeric_ok('{v}', 4, '1e5')}, false)",
                    "invalid_value",
                    f"{self.name} must be a decimal percent >= 0",
                )
            )
        elif self.kind == "integer":
            rules.append(
                (
                    # Digits only (the parser also takes signs, 1_000 and 0x1F).
                    "NOT COALESCE(ltrim({v}, '0123456789') = '' AND "
                    "pg_input_is_valid({v}, 'integer'), false)",
                    "invalid_value",
                    f"{self.name} must be an integer >= 0",
                )
            )
        elif self.kind == "date":
            rules.append(
                (
                    f"NOT {date_ok('{v}')}",
                    "invalid_value",
                    f"{self.name} must be a date YYYY-MM-DD",
                )
            )
        elif self.kind == "bool":
            rules.append(
                (
                    "lower({v}) NOT IN ('true', 'false')",
                    "invalid_value",
                    f"{self.name} must be true or false",
                )
            )
        elif self.kind == "currency":
            rules.append(
                (
                    "{v} <> {package_currency} AND {v} !~ '^[A-Z]{3}$'",
                    "invalid_value",
                    f"{self.name} must be an ISO 4217 code",
                )
            )
        rules.extend(self.extra)
        return rules


# Cross-field rules reference other columns as {col:name} (NULL when the column is absent).
COLUMNS: tuple[Column, ...] = (
    Column("loan_id", True, "text"),
    Column("borrower_id", True, "text", max_length=200),
    Column("product_type", True, "enum", choices=tuple(ProductType.values)),
    Column(
        "currency",
        True,
        "currency",
        extra=(
            (
                "{v} <> {package_currency}",
                "currency_mismatch",
                "currency differs from the package currency",
            ),
        ),
    ),
    Column(
        "origination_date",
        True,
        "date",
        extra=(
            (
                "{v}::date > {cut_off}",
                "date_after_cut_off",
                "origination_date is after the cut-off date",
            ),
        ),
    ),
    Column(
        "default_date",
        False,
        "date",
        extra=(
            (
                "{v}::date > {cut_off}",
                "date_after_cut_off",
                "default_date is after the cut-off date",
            ),
            (
                "{ok:origination_date} AND {v}::date < {col:origination_date}::date",
                "invalid_value",
                "default_date is before origination_date",
            ),
        ),
    ),
    Column("outstanding_principal", True, "decimal"),
    Column("accrued_interest", True, "decimal"),
    Column("fees_and_penalties", False, "decimal"),
    Column("days_past_due", True, "integer"),
    Column(
        "last_payment_date",
        False,
        "date",
        extra=(
            (
                "{v}::date > {cut_off}",
                "date_after_cut_off",
                "last_payment_date is after the cut-off date",
            ),
        ),
    ),
    Column("last_payment_amount", False, "decimal"),
    Column("interest_rate", False, "rate"),
    Column(
        "borrower_age",
        False,
        "integer",
        extra=(
            (
                "{v}::int NOT BETWEEN 18 AND 100",
                "invalid_value",
                "borrower_age must be between 18 and 100",
            ),
        ),
    ),
    Column("region", True, "text"),
    Column("legal_status", True, "enum", choices=tuple(LegalStatus.values)),
    Column("classification", False, "enum", choices=tuple(Classification.values)),
    Column("written_off", False, "bool"),
)
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
