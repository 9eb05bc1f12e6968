"""Money is Decimal end to end: numeric in PostgreSQL, strings with 2 places in JSON."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2
CENT = Decimal("0.01")


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


def to_money(value) -> Decimal:
    """Parse an exact decimal amount with at most 2 places; raise ValueError otherwise."""
    if isinstance(value, float):
        raise ValueError("money must not be a float")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("amount has more than 2 decimal places")
    return amount.quantize(CENT)
