"""``python -m tools.demo run``: the command line, and the order of the story."""

from __future__ import annotations

import argparse
import os
import sys
import time

from tools.demo import webhooks
from tools.demo.auction import auction
from tools.demo.client import Client, DemoError
from tools.demo.default import default_sale
from tools.demo.listing import disclosure, listing
from tools.demo.market import report, valuation
from tools.demo.onboarding import foundation
from tools.demo.settle import ledger_balances, pay, transfer_record, verifications, wait_completed

# Seeded by ``manage.py seed_demo``: two banks, two approved buyers.
SELLERS = ("jinhai_officer", "yuxiu_officer")
BUYERS = ("tianheng_bidder", "lujiang_bidder")


def _story(rows: int) -> None:
    admin = Client("admin").login()
    compliance = Client("compliance").login()
    foundation(admin, compliance)
    seller, other_seller = (Client(name).login() for name in SELLERS)
    buyer, other = (Client(name).login() for name in BUYERS)
    hooks = webhooks.start()  # the buyer's and the bank's webhook endpoints, verified locally
    webhooks.register(hooks, buyer, "buyer")
    webhooks.register(hooks, seller, "bank")

    package = listing(seller, compliance, buyer, rows, title="Personal unsecured NPL portfolio")
    disclosure(buyer, package)
    estimate = valuation(seller, package)
    settlement = auction(seller, compliance, [buyer, other], package)
    pay(admin, settlement)
    completed = wait_completed(buyer, settlement)
    transfer_record(buyer, completed, package["id"])
    report(seller, package, estimate, completed["price"])

    second = listing(
        other_seller, compliance, buyer, max(rows // 4, 100), title="Credit card NPLs", seed=7
    )
    default_sale(other_seller, compliance, admin, [buyer, other], second)

    party_ids = [
        client.request("GET", "/api/v1/me/")[1]["organization"]["id"]
        for client in (seller, other_seller, buyer, other, admin)
    ]
    ledger_balances(admin, party_ids)
    verifications(compliance)
    webhooks.report(hooks)


def _run(args: argparse.Namespace) -> int:
    Client.base_url = args.base_url.rstrip("/")
    started = time.monotonic()
    print(f"NPL Marketplace demo against {Client.base_url}", flush=True)
    try:
        _story(args.rows)
    except (DemoError, OSError, KeyError) as exc:
        print(f"\nDEMO FAILED: {exc!r}", file=sys.stderr, flush=True)
        return 1
    print(f"\nDemo finished in {time.monotonic() - started:.1f}s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description="Whole sales over the REST API: one paid and transferred, one defaulted "
        "and sold to the runner-up.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="drive the sales against a running, seeded stack")
    run.add_argument(
        "--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"), help="the API"
    )
    run.add_argument(
        "--rows",
        type=int,
        default=int(os.environ.get("DEMO_TAPE_ROWS", "20000")),
        help="loans in the first generated tape (the second has a quarter)",
    )
    run.set_defaults(handler=_run)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status
