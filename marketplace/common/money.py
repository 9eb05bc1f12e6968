"""Money is Decimal end to end: numeric in PostgreSQL, strings with 2 places in JSON."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, overload

from django.db import models
from rest_framework import serializers

from marketplace.common.errors import InvalidValue

MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2
CENT = Decimal("0.01")


# A nullable column reads and takes None: the overloads say so, as django-stubs does for a
# DecimalField(null=True) written out in the model.
@overload
def money_field(
    *, null: Literal[True], **kwargs: Any
) -> models.DecimalField[Decimal | None, Decimal | None]: ...
@overload
def money_field(
    *, null: Literal[False] = ..., **kwargs: Any
) -> models.DecimalField[Decimal, Decimal]: ...
def money_field(
    **kwargs: Any,
) -> models.DecimalField[Decimal, Decimal] | models.DecimalField[Decimal | None, Decimal | None]:
    return models.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def to_money(value: object) -> Decimal:
    """Parse an exact decimal amount with at most 2 places; raise ValueError otherwise.

    Only plain decimal notation: no exponents, underscores, thousands separators or NaN."""
    if isinstance(value, float):
        raise ValueError("money must not be a float")
    text = str(value).strip()
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise ValueError(f"not a plain decimal amount: {value!r}")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    try:
        quantized = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # more digits than the context holds
        raise ValueError("amount is too large") from exc
    if amount != quantized:
        raise ValueError("amount has more than 2 decimal places")
    return quantized


class MoneyInput(serializers.CharField):
    """An amount in a request: a JSON string only (API.md: money is a decimal string). A JSON
    number is refused, not converted: the parser has already made it a binary float, so
    ``1234567890123456.78`` arrives as ...456.8 and ``5000.1e0`` as 5000.1, rounded or
    reformatted before any rule could see what the client sent. Refused as the services refuse
    a malformed amount string (400 ``invalid_value``), which parse it with ``to_money``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", 'Decimal string with at most 2 places, e.g. "1250000.00".')
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            message = (
                f'Must be a decimal string such as "1250000.00", not a JSON {_json_kind(data)}.'
            )
            name = self.field_name or "amount"
            raise InvalidValue(f"{name}: {message}", errors={name: [message]})
        return super().to_internal_value(data)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    return "array" if isinstance(value, list) else "object"
