"""After the award: payment, the worker's transfer of ownership, the registry record with its
digest recomputed from the loan schedule, the ledger and the verifications."""

from __future__ import annotations

import csv
import hashlib
import io
import time
import uuid
from decimal import Decimal
from typing import Any

from tools.demo.client import Client, DemoError, cny, show, step

FORMULA_STARTS = ("=", "+", "-", "@")
TRANSFER_FIELDS = ("id", "package", "settlement", "price", "loan_count", "total_balance")


def pay(platform: Client, settlement: dict[str, Any], *, show_mismatch: bool = True) -> None:
    """The platform confirms the buyer's payment of exactly ``balance_due``, with a reference."""
    path = f"/api/v1/settlements/{settlement['id']}/confirm-payment/"
    due = Decimal(settlement["balance_due"])
    step(f"The platform confirms the buyer's payment of settlement #{settlement['id']}")
    if show_mismatch:
        wrong = {"amount": str(due - Decimal("0.01")), "reference": "WRONG-AMOUNT"}
        status, problem = platform.request("POST", path, wrong, expect=409)
        show(
            f"an amount of {cny(wrong['amount'])} -> {status} {problem['code']}, expected "
            f"{cny(problem['expected_amount'])}"
        )
    reference = f"CNAPS-{uuid.uuid4().hex[:12].upper()}"
    body = {"amount": str(due), "reference": reference}
    key = {"Idempotency-Key": f"demo-pay-{settlement['id']}-{reference}"}
    _, paid = platform.request("POST", path, body, headers=key, expect=200)
    show(
        f"{cny(body['amount'])} received (reference {paid['payment_reference']}) -> "
        f"{paid['status']} at {paid['paid_at']}"
    )
    status, again = platform.request("POST", path, body, headers=key, expect=200)
    show(f"the same confirmation replayed with its Idempotency-Key -> {status} {again['status']}")


def wait_completed(client: Client, settlement: dict[str, Any]) -> dict[str, Any]:
    """Poll until the worker has transferred the loans and completed the settlement."""
    step("A Celery worker transfers ownership of the loans to the buyer")
    started = time.monotonic()
    while True:
        _, current = client.request("GET", f"/api/v1/settlements/{settlement['id']}/")
        if current["status"] == "completed":
            break
        if time.monotonic() - started > 120:
            raise DemoError(f"settlement #{settlement['id']} not completed within 120 s")
        time.sleep(0.3)
    show(
        f"settlement #{current['id']} {current['status']} at {current['completed_at']} "
        f"({time.monotonic() - started:.1f} s after payment): transfer #{current['transfer']}"
    )
    return dict(current)


def transfer_record(buyer: Client, settlement: dict[str, Any], package_id: int) -> None:
    """The registry record, its digest recomputed from the loan schedule, the buyer's loans."""
    transfer_id = settlement["transfer"]
    step(f"Transfer registry record #{transfer_id}, as the buyer reads it")
    _, record = buyer.request("GET", f"/api/v1/transfers/{transfer_id}/")
    for key in TRANSFER_FIELDS:
        show(f"{key:<14} {record[key]}")
    show(f"{'seller':<14} {record['seller']['name']}")
    show(f"{'buyer':<14} {record['buyer']['name']}")
    show(f"{'transferred_at':<14} {record['transferred_at']}")
    show(f"{'digest':<14} {record['digest']}")

    step("The buyer recomputes the digest from the loan schedule (CSV)")
    schedule = buyer.text(f"/api/v1/transfers/{transfer_id}/loans/?format=csv")
    digest, count, total = schedule_digest(schedule)
    show(f"loan schedule: {count:,} loans, total balance {cny(str(total))}")
    show(f"recomputed     {digest}")
    if digest != record["digest"] or count != record["loan_count"]:
        show("MISMATCH: the schedule does not hash to the registry's digest")
        raise DemoError(f"digest mismatch for transfer #{transfer_id}")
    show("digest match: the schedule is exactly what the registry recorded")
    _, mine = buyer.request("GET", f"/api/v1/packages/{package_id}/loans/?owner=me&page_size=1")
    show(f"the buyer now owns {mine['count']:,} loans of package #{package_id}")


def schedule_digest(schedule: str) -> tuple[str, int, Decimal]:
    """API.md's digest: SHA-256 of ``loan_id,balance\\n`` (two decimals) per loan, ordered by
    ``loan_id`` in byte order; with the loan count and the total balance."""
    reader = csv.DictReader(io.StringIO(schedule))
    rows = [(_loan_id(row["loan_id"]), Decimal(row["balance"])) for row in reader]
    rows.sort(key=lambda row: row[0].encode("utf-8"))
    sha = hashlib.sha256()
    for loan_id, balance in rows:
        sha.update(f"{loan_id},{balance.quantize(Decimal('0.01'))}\n".encode())
    return sha.hexdigest(), len(rows), sum((balance for _, balance in rows), Decimal(0))


def _loan_id(cell: str) -> str:
    """The loan id of a schedule cell: the export puts a quote before an id a spreadsheet
    would run as a formula (one starting with ``= + - @``)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS else cell


def org_names(platform: Client) -> dict[int, str]:
    _, page = platform.request("GET", "/api/v1/organizations/?page_size=200")
    return {org["id"]: org["name"] for org in page["results"]}


def ledger_balances(platform: Client, org_ids: list[int]) -> None:
    """Every account balance of the demo's parties, and what moved through each account."""
    step("Ledger balances of each party (debit positive, credit negative), and what moved")
    names = org_names(platform)
    _, rows = platform.request("GET", "/api/v1/ledger/balances/")
    moved = _movements(platform)
    for org_id in org_ids:
        show(f"{names.get(org_id, f'#{org_id}')}:")
        mine = sorted((row for row in rows if row["organization"] == org_id), key=_by_account)
        for row in mine:
            show(f"  {row['account']:<20} balance {row['currency']} {row['balance']:>16}")
            for (org, account, kind), total in sorted(moved.items()):
                if (org, account) == (org_id, row["account"]):
                    show(f"  {'':<20}   {kind:<18} {total:>16}")
        if not mine:
            show("  (no entries)")


def _by_account(row: dict[str, Any]) -> str:
    return str(row["account"])


def _movements(platform: Client) -> dict[tuple[int, str, str], Decimal]:
    """The sum of the ledger's entries by organisation, account and kind of money event."""
    totals: dict[tuple[int, str, str], Decimal] = {}
    path: str | None = "/api/v1/ledger/entries/?page_size=200"
    while path:
        _, page = platform.request("GET", path)
        for entry in page["results"]:
            key = (entry["organization"], entry["account"], entry["kind"])
            totals[key] = totals.get(key, Decimal(0)) + Decimal(entry["amount"])
        path = page["next"] and page["next"].removeprefix(Client.base_url)
    return totals


def verifications(compliance: Client) -> None:
    """The audit chains and the ledger, verified by compliance; a failure fails the demo."""
    step("Compliance verifies the audit chains and the ledger")
    _, audit = compliance.request("GET", "/api/v1/audit-events/verify/")
    show(
        f"audit:  valid={audit['valid']}, {audit['events_checked']} events in "
        f"{audit['streams_checked']} streams"
    )
    _, ledger = compliance.request("GET", "/api/v1/ledger/verify/")
    show(
        f"ledger: valid={ledger['valid']}, {ledger['transactions_checked']} transactions "
        f"balance, {ledger['registrations_checked']} registrations' deposits match"
    )
    if not (audit["valid"] and ledger["valid"]):
        raise DemoError(f"verification failed: audit {audit}, ledger {ledger}")
