"""Drive a sale through the REST API over HTTP, as its users would, printing each step.

    python -m tools.demo run [--base-url URL] [--rows N]

Run by ``make demo`` against a live stack (``--base-url``, default ``BASE_URL`` or
http://127.0.0.1:8000) seeded by ``manage.py seed_demo``. Uses only HTTP (no project imports),
so it exercises exactly what an API client sees. Safe to run again: every run creates its own
new objects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")


class DemoError(RuntimeError):
    pass


class Client:
    base_url = "http://127.0.0.1:8000"  # set once by ``main``

    def __init__(self, username: str | None = None) -> None:
        self.username = username
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int | tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        payload = json.loads(raw) if raw else None
        expected = (expect,) if isinstance(expect, int) else expect
        if status not in expected:
            raise DemoError(f"{method} {path} -> {status}, expected {expected}: {payload}")
        return status, payload

    def upload(self, path: str, file_path: str, *, expect: int = 202) -> tuple[int, Any]:
        """POST a file as multipart/form-data field ``file``, streamed from disk."""
        boundary = f"----demo{uuid.uuid4().hex}"
        name = os.path.basename(file_path)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        with open(file_path, "rb") as handle:
            body = head + handle.read() + tail
        return self.request_raw(
            "POST", path, body, f"multipart/form-data; boundary={boundary}", expect=expect
        )

    def request_raw(
        self, method: str, path: str, body: bytes, content_type: str, *, expect: int
    ) -> tuple[int, Any]:
        req = urllib.request.Request(self.base_url + path, data=body, method=method)  # noqa: S310
        req.add_header("Content-Type", content_type)
        req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        payload = json.loads(raw) if raw else None
        if status != expect:
            raise DemoError(f"{method} {path} -> {status}, expected {expect}: {payload}")
        return status, payload

    def login(self) -> Client:
        _, body = self.request(
            "POST",
            "/api/v1/auth/token/",
            {"username": self.username, "password": PASSWORD},
            expect=200,
        )
        self.token = body["token"]
        return self


def step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}", flush=True)


def show(text: str) -> None:
    print(f"    {text}", flush=True)


def foundation(admin: Client, compliance: Client) -> None:
    """Steps 1-5: users, a new buyer's onboarding and review, the audit trail."""
    step(1, "Platform admin and compliance officer log in")
    _, me = admin.request("GET", "/api/v1/me/")
    show(f"admin: {me['username']} ({me['role']}) of {me['organization']['name']}")
    _, me = compliance.request("GET", "/api/v1/me/")
    show(f"compliance: {me['username']} ({me['role']})")
    org, member = _onboard_buyer(admin)
    bidder = _review_buyer(compliance, org, member)

    step(4, "Admin lists organisations")
    _, page = admin.request("GET", "/api/v1/organizations/?page_size=200")
    for item in page["results"]:
        extra = f", {item['eligibility']}" if item["kind"] == "buyer" else ""
        show(f"#{item['id']:<3} {item['name']:<32} {item['kind']}{extra}")
    show(f"{page['count']} organisations")

    _audit_trail(compliance, org)
    bidder.request("POST", "/api/v1/auth/logout/", {}, expect=204)
    bidder.request("GET", "/api/v1/me/", expect=401)
    show("bidder logs out; its token is refused afterwards (401)")


def _onboard_buyer(admin: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    step(2, "Admin onboards a new buyer organisation (pending) with a bidder")
    suffix = uuid.uuid4().hex[:6]
    body = {
        "name": f"Demo Capital AMC {suffix}",
        "kind": "buyer",
        "licence_type": "local_amc",
        "registration_number": f"DEMO-{suffix}",
    }
    key = {"Idempotency-Key": f"demo-org-{suffix}"}
    _, org = admin.request("POST", "/api/v1/organizations/", body, headers=key)
    show(f"created organisation #{org['id']} {org['name']}: eligibility {org['eligibility']}")
    status, replay = admin.request("POST", "/api/v1/organizations/", body, headers=key)
    show(
        f"same request replayed with its Idempotency-Key -> {status}, same organisation "
        f"#{replay['id']} (nothing created twice)"
    )
    _, member = admin.request(
        "POST",
        f"/api/v1/organizations/{org['id']}/members/",
        {"username": f"demo_bidder_{suffix}", "password": PASSWORD, "role": "bidder"},
    )
    show(f"created user {member['username']} (role {member['role']})")
    return org, member


def _review_buyer(compliance: Client, org: dict[str, Any], member: dict[str, Any]) -> Client:
    step(3, "The new bidder cannot act for its organisation's review; compliance approves it")
    approve = f"/api/v1/organizations/{org['id']}/approve/"
    bidder = Client(member["username"]).login()
    status, problem = bidder.request("POST", approve, {}, expect=403)
    show(f"bidder tries to approve -> {status} {problem['code']}")
    _, approved = compliance.request("POST", approve, {"reason": "licence and KYC verified"})
    show(f"compliance approves -> eligibility {approved['eligibility']}")
    status, problem = compliance.request("POST", approve, {}, expect=409)
    show(f"approving again -> {status} {problem['code']}: {problem['detail']}")
    return bidder


def _audit_trail(compliance: Client, org: dict[str, Any]) -> None:
    step(5, "Compliance reads the audit trail of the new buyer and verifies every chain")
    _, events = compliance.request(
        "GET", f"/api/v1/audit-events/?object_type=organization&object_id={org['id']}"
    )
    for event in events["results"]:
        show(
            f"{event['stream']}#{event['sequence']} {event['action']:<22} by "
            f"{event['actor']['user'] or 'system'}  hash {event['hash'][:12]}…"
        )
    _, verify = compliance.request("GET", "/api/v1/audit-events/verify/")
    show(
        f"verify: valid={verify['valid']}, {verify['events_checked']} events in "
        f"{verify['streams_checked']} streams"
    )
    if not verify["valid"]:
        raise DemoError(f"audit chain invalid: {verify}")


SUMMARY_FIELDS = (
    "loan_count",
    "borrower_count",
    "total_principal",
    "total_interest",
    "total_fees",
    "total_balance",
    "weighted_avg_days_past_due",
    "weighted_avg_borrower_age",
    "max_borrower_balance",
    "avg_borrower_balance",
)


def listing(seller: Client, compliance: Client, buyer: Client, rows: int) -> dict[str, Any]:
    """Steps 6-10: a package with its loan tape, its review, and what it discloses."""
    step(6, f"A bank disposal officer creates a package and uploads a {rows:,}-loan tape")
    _, package = seller.request(
        "POST",
        "/api/v1/packages/",
        {
            "title": f"Unsecured consumer NPL portfolio {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "description": "Credit cards and consumer loans, mostly over a year past due.",
            "currency": "EUR",
            "cut_off_date": "2026-09-30",
        },
    )
    show(f"package #{package['id']} '{package['title']}' is {package['status']}")
    _upload_tape(seller, package, _generate_tape(rows), rows)

    step(7, "The buyer cannot see the draft; the seller submits; compliance approves")
    status, problem = buyer.request("GET", f"/api/v1/packages/{package['id']}/", expect=404)
    show(f"buyer GET draft -> {status} {problem['code']}")
    _, package = seller.request("POST", f"/api/v1/packages/{package['id']}/submit/", {})
    show(f"seller submits -> {package['status']}")
    _, package = compliance.request(
        "POST", f"/api/v1/packages/{package['id']}/approve/", {"note": "disclosure reviewed"}
    )
    show(f"compliance approves -> {package['status']}")
    _disclosure(buyer, package)
    return dict(package)


def _generate_tape(rows: int) -> str:
    tape_path = os.path.join(tempfile.mkdtemp(prefix="demo-tape-"), "tape.csv")
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "generate_loan_tape",
            "--rows",
            str(rows),
            "--seed",
            "42",
            "--out",
            tape_path,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    show(
        f"generated {os.path.getsize(tape_path) / 1e6:.1f} MB CSV with "
        "`manage.py generate_loan_tape`"
    )
    return tape_path


def _upload_tape(seller: Client, package: dict[str, Any], tape_path: str, rows: int) -> None:
    _, accepted = seller.upload(f"/api/v1/packages/{package['id']}/loan-tape/", tape_path)
    show(f"upload accepted: import #{accepted['id']} {accepted['status']} (202, a worker loads it)")
    deadline = time.monotonic() + 180
    while True:
        _, tape = seller.request("GET", f"/api/v1/packages/{package['id']}/loan-tape/")
        total = tape["rows_total"] or rows
        show(f"import {tape['status']:<10} {tape['rows_processed']:>7,} / {total:,} rows")
        if tape["status"] in ("succeeded", "failed"):
            break
        if time.monotonic() > deadline:
            raise DemoError("the loan tape import did not finish within 180 s")
        time.sleep(0.5)
    if tape["status"] != "succeeded":
        raise DemoError(f"import failed: {tape['errors'][:5]}")


def _disclosure(buyer: Client, package: dict[str, Any]) -> None:
    step(8, "Public disclosure: the package summary")
    _, summary = buyer.request("GET", f"/api/v1/packages/{package['id']}/")
    for key in SUMMARY_FIELDS:
        show(f"{key:<28} {summary[key]}")
    show(f"{'litigation_mix':<28} {summary['litigation_mix']}")
    show(f"{'product_mix':<28} {summary['product_mix']}")
    _, strat = buyer.request("GET", f"/api/v1/packages/{package['id']}/stratification/")
    for table in ("days_past_due", "legal_status"):
        step(9 if table == "days_past_due" else 10, f"Stratification by {table}")
        show(f"{'bucket':<24}{'loans':>8}{'balance':>18}{'share':>9}{'w.a. DPD':>10}")
        for row in strat[table]:
            show(
                f"{row['bucket']:<24}{row['loan_count']:>8,}{row['total_balance']:>18}"
                f"{row['balance_share']:>9}{row['weighted_avg_days_past_due'] or '-':>10}"
            )
    status, problem = buyer.request("GET", f"/api/v1/packages/{package['id']}/loans/", expect=403)
    show(f"buyer asks for loan-level rows before registering -> {status} {problem['code']}")


def auction(
    seller: Client, compliance: Client, buyers: list[Client], package: dict[str, Any]
) -> None:
    """Steps 11-15: an English auction with a soft close, closed by the worker, settled."""
    auc = _open_auction(seller, package)
    _register(compliance, buyers, auc, package)
    path = f"/api/v1/auctions/{auc['id']}/bids/"
    _bidding(buyers, auc, path)
    _closing(seller, buyers[1], auc, path)

    step(15, "Settlement opened for the winner")
    _, settlements = seller.request("GET", "/api/v1/settlements/")
    settlement = next(s for s in settlements["results"] if s["auction"] == auc["id"])
    for key in ("id", "status", "price", "deposit_applied", "balance_due", "due_at"):
        show(f"{key:<16} {settlement[key]}")
    show(f"buyer {settlement['buyer']['name']}, seller {settlement['seller']['name']}")
    _, verify = compliance.request("GET", "/api/v1/audit-events/verify/")
    show(f"audit chains: valid={verify['valid']} ({verify['events_checked']} events)")
    if not verify["valid"]:
        raise DemoError(f"audit chain invalid: {verify}")


def _open_auction(seller: Client, package: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    step(11, "The seller opens an English auction with a hidden reserve and a soft close")
    _, auc = seller.request(
        "POST",
        "/api/v1/auctions/",
        {
            "package": package["id"],
            "format": "english",
            "starts_at": now.isoformat(),
            "ends_at": (now + dt.timedelta(seconds=16)).isoformat(),
            "starting_price": "100000000.00",
            "min_increment": "1000000.00",
            "reserve_price": "110000000.00",
            "deposit_amount": "5000000.00",
            "soft_close_seconds": 8,
            "extension_seconds": 10,
            "payment_window_hours": 72,
        },
    )
    show(
        f"auction #{auc['id']} {auc['status']}: starting {auc['starting_price']}, increment "
        f"{auc['min_increment']}, deposit {auc['deposit_amount']}, ends {auc['ends_at']}"
    )
    show("soft close: a bid in the last 8 s moves the end to 10 s after the bid")
    return dict(auc)


def _register(
    compliance: Client, buyers: list[Client], auc: dict[str, Any], package: dict[str, Any]
) -> None:
    step(12, "Two approved buyers register (NDA) and the platform confirms their deposits")
    for buyer in buyers:
        _, reg = buyer.request(
            "POST", f"/api/v1/auctions/{auc['id']}/registrations/", {"accept_nda": True}
        )
        show(
            f"{buyer.username}: registration #{reg['id']} {reg['status']} "
            f"(deposit {reg['deposit_amount']})"
        )
        status, problem = buyer.request(
            "POST", f"/api/v1/auctions/{auc['id']}/bids/", {"amount": "100000000.00"}, expect=403
        )
        show(f"{buyer.username} bids before the deposit is confirmed -> {status} {problem['code']}")
        _, reg = compliance.request("POST", f"/api/v1/registrations/{reg['id']}/confirm-deposit/")
        show(f"compliance confirms the deposit -> {reg['status']} ({reg['deposit_status']})")
        _, loans = buyer.request("GET", f"/api/v1/packages/{package['id']}/loans/?page_size=1")
        show(f"the data room is open to {buyer.username}: {loans['count']:,} loans")


def _bidding(buyers: list[Client], auc: dict[str, Any], path: str) -> None:
    step(13, "Bidding")
    first, second = buyers
    _, bid = first.request("POST", path, {"amount": "100000000.00"})
    show(f"{first.username} bids {bid['amount']} (#{bid['sequence']})")
    status, problem = second.request("POST", path, {"amount": "100500000.00"}, expect=409)
    show(
        f"{second.username} bids 100500000.00 -> {status} {problem['code']}, minimum "
        f"{problem['minimum_bid']}"
    )
    status, problem = first.request("POST", path, {"amount": "105000000.00"}, expect=409)
    show(f"{first.username} outbids itself -> {status} {problem['code']}")
    _, bid = second.request("POST", path, {"amount": "108000000.00"})
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
    _, bid = first.request("POST", path, {"amount": "112000000.00"})
    _, detail = first.request("GET", f"/api/v1/auctions/{auc['id']}/")
    show(
        f"{first.username} bids {bid['amount']} inside the window: the end moves from "
        f"{detail['original_ends_at']} to {detail['ends_at']}"
    )


def _closing(seller: Client, buyer: Client, auc: dict[str, Any], path: str) -> None:
    step(14, "The Celery worker closes the auction at its extended end")
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
        f"{detail['outcome']}, winner {detail['winner']['name']} at {detail['winner']['price']}"
    )
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


def _run(args: argparse.Namespace) -> int:
    Client.base_url = args.base_url.rstrip("/")
    started = time.monotonic()
    print(f"NPL Marketplace demo against {Client.base_url}", flush=True)
    try:
        admin = Client("admin").login()
        compliance = Client("compliance").login()
        foundation(admin, compliance)
        seller = Client("hanil_officer").login()
        buyer = Client("recovery_bidder").login()
        package = listing(seller, compliance, buyer, args.rows)
        other = Client("seoulcredit_bidder").login()
        auction(seller, compliance, [buyer, other], package)
    except (DemoError, OSError, KeyError) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"\nDemo finished in {time.monotonic() - started:.1f}s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo", description="A whole sale over the REST API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="drive one sale against a running, seeded stack")
    run.add_argument(
        "--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"), help="the API"
    )
    run.add_argument(
        "--rows",
        type=int,
        default=int(os.environ.get("DEMO_TAPE_ROWS", "20000")),
        help="loans in the generated tape",
    )
    run.set_defaults(handler=_run)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
