"""Market data: the price index of past sales (a labelled synthetic history on a fresh
machine), the package's indicative valuation next to its final price, and its risk flags."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tools.demo.client import Client, cny, show, step


def valuation(seller: Client, package: dict[str, Any]) -> dict[str, Any] | None:
    """The seller's indicative valuation of its package, as it sets the reserve."""
    step("Indicative valuation of the package from past sales (seller, before the auction)")
    status, body = seller.request(
        "GET", f"/api/v1/packages/{package['id']}/valuation/", expect=(200, 409)
    )
    if status == 409:
        show(f"{status} {body['code']}: {body['detail']}")
        return None
    show(f"range      {cny(body['low'])} .. {cny(body['point'])} .. {cny(body['high'])}")
    show(
        f"of balance {body['price_to_balance_low']} .. {body['price_to_balance_point']} .. "
        f"{body['price_to_balance_high']} (method {body['method']}, {body['deals_used']} deals, "
        f"cross-validated error {body['model_error']})"
    )
    for comparable in body["comparables"][:3]:
        show(
            f"comparable {comparable['ref']} {comparable['quarter']} "
            f"{comparable['loan_count']:>6} loans at {comparable['price_to_balance']} "
            f"(similarity {comparable['similarity']})"
        )
    return dict(body)


def report(
    client: Client, package: dict[str, Any], estimate: dict[str, Any] | None, price: str
) -> None:
    """The index by quarter, the valuation against the final price, the risk flags."""
    step("Price index of completed sales by quarter (cells under 3 deals or 3 sellers hidden)")
    _, index = client.request("GET", "/api/v1/market/price-index/?group_by=quarter")
    for row in index["results"][-6:]:
        quarter = row["segment"]["quarter"]
        if row["suppressed"]:
            show(f"{quarter}  suppressed")
            continue
        show(
            f"{quarter}  {row['deals']:>4} deals, {row['sellers']} sellers "
            f"({row['synthetic_deals']} synthetic): price/balance {row['price_to_balance']} "
            f"(median {row['median_price_to_balance']})"
        )
    step("The valuation next to the final price")
    if estimate is None:
        show(f"final price {cny(price)}; no valuation (too few past sales)")
    else:
        inside = Decimal(estimate["low"]) <= Decimal(price) <= Decimal(estimate["high"])
        show(
            f"final price {cny(price)}; valuation {cny(estimate['low'])} .. "
            f"{cny(estimate['high'])}: {'inside' if inside else 'outside'} the range"
        )
    step("Risk flags computed when the tape was imported")
    _, risk = client.request("GET", f"/api/v1/packages/{package['id']}/risk/")
    show(f"concentration {risk['concentration']}")
    for flag in risk["flags"] or [
        {"code": "none", "value": "-", "threshold": "-", "severity": "-"}
    ]:
        show(f"{flag['code']:<32} {flag['value']:>8} > {flag['threshold']:<6} {flag['severity']}")
