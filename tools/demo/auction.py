"""An English auction: registration, deposits, bids, the soft close and the worker's close."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tools.demo.client import Client, DemoError, show, step
from tools.demo.livestream import StreamWatcher

# Terms near what comparable packages sold for (the valuation of step 13: a few per cent of the
# unpaid balance), so the final price can be read against the market.
ENGLISH_TERMS = {
    "format": "english",
    "starting_price": "28000000.00",
    "min_increment": "500000.00",
    "reserve_price": "30500000.00",
    "deposit_amount": "1500000.00",
    "soft_close_seconds": 8,
    "extension_seconds": 10,
    "payment_window_hours": 72,
}


def auction(
    seller: Client, compliance: Client, buyers: list[Client], package: dict[str, Any]
) -> dict[str, Any]:
    """An English auction with a soft close, closed by the worker; returns its settlement."""
    step("The seller opens an English auction with a hidden reserve and a soft close")
    auc = open_auction(seller, package, ENGLISH_TERMS, seconds=16)
    show("soft close: a bid in the last 8 s moves the end to 10 s after the bid")
    watcher = StreamWatcher(seller, auc["id"])
    register(compliance, buyers, auc, package)
    path = f"/api/v1/auctions/{auc['id']}/bids/"
    _bidding(buyers, auc, path)
    step("The Celery worker closes the auction at its extended end")
    wait_closed(seller, auc)
    watcher.report()
    _history(seller, buyers[1], path)

    step("Settlement opened for the winner (amounts in CNY)")
    settlement = settlement_of(seller, auc)
    for key in ("id", "status", "price", "deposit_applied", "balance_due", "due_at"):
        show(f"{key:<16} {settlement[key]}")
    show(f"buyer {settlement['buyer']['name']}, seller {settlement['seller']['name']}")
    return settlement


def open_auction(
    seller: Client, package: dict[str, Any], terms: dict[str, Any], *, seconds: int
) -> dict[str, Any]:
    """Open an auction on ``package`` now, ending ``seconds`` from now."""
    now = dt.datetime.now(dt.UTC)
    body = {
        **terms,
        "package": package["id"],
        "starts_at": now.isoformat(),
        "ends_at": (now + dt.timedelta(seconds=seconds)).isoformat(),
    }
    _, auc = seller.request("POST", "/api/v1/auctions/", body)
    show(
        f"auction #{auc['id']} {auc['status']}: starting CNY {auc['starting_price']}, increment "
        f"{auc['min_increment']}, deposit {auc['deposit_amount']}, payment window "
        f"{auc['payment_window_hours']} h, ends {auc['ends_at']}"
    )
    return dict(auc)


def settlement_of(client: Client, auc: dict[str, Any]) -> dict[str, Any]:
    """The settlement opened at the close of ``auc`` (the first, not a runner-up offer)."""
    _, page = client.request("GET", f"/api/v1/settlements/?auction={auc['id']}")
    found = [s for s in page["results"] if s["runner_up_of"] is None]
    if not found:
        raise DemoError(f"no settlement opened for auction #{auc['id']}")
    return dict(found[0])


def register(
    compliance: Client, buyers: list[Client], auc: dict[str, Any], package: dict[str, Any]
) -> None:
    step("Two approved buyers register (NDA) and the platform confirms their deposits")
    for buyer in buyers:
        _, reg = buyer.request(
            "POST", f"/api/v1/auctions/{auc['id']}/registrations/", {"accept_nda": True}
        )
        show(
            f"{buyer.username}: registration #{reg['id']} {reg['status']} "
            f"(deposit {reg['deposit_amount']})"
        )
        status, problem = buyer.request(
            "POST", f"/api/v1/auctions/{auc['id']}/bids/", {"amount": "28000000.00"}, expect=403
        )
        show(f"{buyer.username} bids before the deposit is confirmed -> {status} {problem['code']}")
        _, reg = compliance.request("POST", f"/api/v1/registrations/{reg['id']}/confirm-deposit/")
        show(f"compliance confirms the deposit -> {reg['status']} ({reg['deposit_status']})")
        _, loans = buyer.request("GET", f"/api/v1/packages/{package['id']}/loans/?page_size=1")
        show(f"the data room is open to {buyer.username}: {loans['count']:,} loans")


def _bidding(buyers: list[Client], auc: dict[str, Any], path: str) -> None:
    step("Bidding")
    first, second = buyers
    _, bid = first.request("POST", path, {"amount": "28000000.00"})
    show(f"{first.username} bids {bid['amount']} (#{bid['sequence']})")
    status, problem = second.request("POST", path, {"amount": "28200000.00"}, expect=409)
    show(
        f"{second.username} bids 28200000.00 -> {status} {problem['code']}, minimum "
        f"{problem['minimum_bid']}"
    )
    status, problem = first.request("POST", path, {"amount": "29000000.00"}, expect=409)
    show(f"{first.username} outbids itself -> {status} {problem['code']}")
    _, bid = second.request("POST", path, {"amount": "30000000.00"})
    show(f"{second.username} bids {bid['amount']} (#{bid['sequence']})")
    _, detail = first.request("GET", f"/api/v1/auctions/{auc['id']}/")
    show(
        f"{first.username} sees: current {detail['current_price']}, minimum next "
        f"{detail['minimum_next_bid']}, reserve met {detail['reserve_met']}, "
        f"leading {detail['is_leading']}"
    )
    ends = dt.datetime.fromisoformat(detail["ends_at"].replace("Z", "+00:00"))
    wait = (ends - dt.datetime.now(dt.UTC)).total_seconds() - 4
    if wait > 0:
        show(f"waiting {wait:.0f} s for the soft-close window…")
        time.sleep(wait)
    _, bid = first.request("POST", path, {"amount": "31000000.00"})
    _, detail = first.request("GET", f"/api/v1/auctions/{auc['id']}/")
    show(
        f"{first.username} bids {bid['amount']} inside the window: the end moves from "
        f"{detail['original_ends_at']} to {detail['ends_at']}"
    )


def wait_closed(seller: Client, auc: dict[str, Any]) -> dict[str, Any]:
    """Poll until the worker has closed ``auc``; print its outcome."""
    deadline = time.monotonic() + 60
    while True:
        _, detail = seller.request("GET", f"/api/v1/auctions/{auc['id']}/")
        if detail["status"] == "closed":
            break
        if time.monotonic() > deadline:
            raise DemoError("the worker did not close the auction within 60 s of its end")
        time.sleep(0.5)
    show(
        f"closed at {detail['closed_at']} (end {detail['ends_at']}): outcome "
        f"{detail['outcome']}, winner {detail['winner']['name']} at CNY "
        f"{detail['winner']['price']}"
    )
    return dict(detail)


def _history(seller: Client, buyer: Client, path: str) -> None:
    _, bids = seller.request("GET", f"{path}?page_size=200")
    show("bid history as the seller sees it:")
    for row in bids["results"]:
        show(f"  #{row['sequence']} {row['placed_at']}  {row['amount']:>15}  {row['bidder']}")
    _, bids = buyer.request("GET", f"{path}?page_size=200")
    show(
        "…and as a buyer sees it: "
        + ", ".join(
            f"#{r['sequence']} {r['bidder']}{' (mine)' if r['mine'] else ''}"
            for r in bids["results"]
        )
    )
