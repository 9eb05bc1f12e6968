"""A second sale that goes wrong: the winner does not pay, beat's sweep defaults it, the deposit
is forfeited to the seller, and the seller offers the package to the runner-up, who pays."""

from __future__ import annotations

import time
from typing import Any

from tools.demo.auction import open_auction, register, settlement_of, wait_closed
from tools.demo.client import Client, DemoError, cny, show, step
from tools.demo.settle import org_names, pay, transfer_record, wait_completed

# Payment is due at the award (a window of 0 hours), so the sweep defaults it on its next run.
DEFAULT_TERMS = {
    "format": "english",
    "starting_price": "30000000.00",
    "min_increment": "500000.00",
    "deposit_amount": "2000000.00",
    "soft_close_seconds": 0,
    "extension_seconds": 0,
    "payment_window_hours": 0,
}


def default_sale(
    seller: Client, compliance: Client, platform: Client, buyers: list[Client], package: Any
) -> None:
    """``buyers[1]`` bids first, ``buyers[0]`` wins and defaults, ``buyers[1]`` buys."""
    defaulter, runner_up = buyers
    step("A second bank auctions its package with payment due at the award (window 0 h)")
    auc = open_auction(seller, package, DEFAULT_TERMS, seconds=8)
    register(compliance, [runner_up, defaulter], auc, package)
    step("Bidding, and the worker's close")
    path = f"/api/v1/auctions/{auc['id']}/bids/"
    for buyer, amount in ((runner_up, "30000000.00"), (defaulter, "31000000.00")):
        _, bid = buyer.request("POST", path, {"amount": amount})
        show(f"{buyer.username} bids {cny(bid['amount'])} (#{bid['sequence']})")
    wait_closed(seller, auc)
    settlement = settlement_of(seller, auc)
    show(
        f"settlement #{settlement['id']}: price {cny(settlement['price'])}, deposit applied "
        f"{cny(settlement['deposit_applied'])}, balance due {cny(settlement['balance_due'])} "
        f"by {settlement['due_at']}"
    )
    _wait_defaulted(seller, settlement)
    _forfeiture(platform, seller, settlement)
    offer = _offer_runner_up(seller, runner_up, settlement)
    pay(platform, offer, show_mismatch=False)
    completed = wait_completed(runner_up, offer)
    transfer_record(runner_up, completed, package["id"])


def _wait_defaulted(seller: Client, settlement: dict[str, Any]) -> None:
    step(f"{settlement['buyer']['name']} does not pay: beat's sweep defaults the settlement")
    started = time.monotonic()
    while True:
        _, current = seller.request("GET", f"/api/v1/settlements/{settlement['id']}/")
        if current["status"] == "defaulted":
            break
        if time.monotonic() - started > 90:
            raise DemoError(f"settlement #{settlement['id']} not defaulted within 90 s")
        time.sleep(0.2)
    show(f"settlement #{current['id']} {current['status']} ({time.monotonic() - started:.1f} s)")


def _forfeiture(platform: Client, seller: Client, settlement: dict[str, Any]) -> None:
    step("The defaulter's deposit is forfeited to the seller (ledger entries)")
    _, page = platform.request(
        "GET", f"/api/v1/ledger/entries/?kind=deposit_forfeited&settlement={settlement['id']}"
    )
    if not page["results"]:
        raise DemoError(f"no forfeiture posted for settlement #{settlement['id']}")
    names = org_names(platform)
    show(f"one balanced transaction ({page['results'][0]['transaction_id']}):")
    for entry in page["results"]:
        show(
            f"  {names[entry['organization']]:<28} {entry['account']:<20} "
            f"{entry['currency']} {entry['amount']:>16}"
        )
    show("the seller keeps the deposit; the buyer's debt and the seller's claim are voided")
    _, package = seller.request("GET", f"/api/v1/packages/{settlement['package']}/")
    show(f"package #{package['id']} is {package['status']} again; the defaulter is barred from it")


def _offer_runner_up(
    seller: Client, runner_up: Client, settlement: dict[str, Any]
) -> dict[str, Any]:
    step("The seller offers the package to the runner-up, at its own bid")
    path = f"/api/v1/settlements/{settlement['id']}/offer-runner-up/"
    key = {"Idempotency-Key": f"demo-runner-up-{settlement['id']}"}
    _, offer = seller.request("POST", path, {}, headers=key, expect=201)
    show(
        f"settlement #{offer['id']} (runner-up of #{offer['runner_up_of']}) to "
        f"{offer['buyer']['name']}: price {cny(offer['price'])}, deposit applied "
        f"{cny(offer['deposit_applied'])}, balance due {cny(offer['balance_due'])}, "
        f"due {offer['due_at']}"
    )
    _, seen = runner_up.request("GET", f"/api/v1/settlements/{offer['id']}/")
    show(f"{runner_up.username} sees it: {seen['status']}")
    return dict(offer)
