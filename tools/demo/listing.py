"""A bank lists a package: its loan tape, its review, and what it discloses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from tools.demo.client import Client, DemoError, show, step

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


def listing(
    seller: Client, compliance: Client, buyer: Client, rows: int, *, title: str, seed: int = 42
) -> dict[str, Any]:
    """A package with its loan tape, its review, and (the first time) what it discloses."""
    step(f"{seller.username} (a bank's disposal officer) lists a package: a {rows:,}-loan tape")
    _, package = seller.request(
        "POST",
        "/api/v1/packages/",
        {
            "title": f"{title} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "description": "Personal credit cards and consumer loans, mostly over a year past due.",
            "currency": "CNY",
            "cut_off_date": "2026-09-30",
        },
    )
    show(f"package #{package['id']} '{package['title']}' is {package['status']}")
    _upload_tape(seller, package, _generate_tape(rows, seed), rows)

    step("The buyer cannot see the draft; the seller submits; compliance approves")
    status, problem = buyer.request("GET", f"/api/v1/packages/{package['id']}/", expect=404)
    show(f"buyer GET draft -> {status} {problem['code']}")
    _, package = seller.request("POST", f"/api/v1/packages/{package['id']}/submit/", {})
    show(f"seller submits -> {package['status']}")
    _, package = compliance.request(
        "POST", f"/api/v1/packages/{package['id']}/approve/", {"note": "disclosure reviewed"}
    )
    show(f"compliance approves -> {package['status']}")
    return dict(package)


def _generate_tape(rows: int, seed: int) -> str:
    tape_path = os.path.join(tempfile.mkdtemp(prefix="demo-tape-"), "tape.csv")
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "generate_loan_tape",
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--currency",
            "CNY",
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
    shutil.rmtree(os.path.dirname(tape_path), ignore_errors=True)
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


def disclosure(buyer: Client, package: dict[str, Any]) -> None:
    step("Public disclosure: the package summary (amounts in CNY)")
    _, summary = buyer.request("GET", f"/api/v1/packages/{package['id']}/")
    for key in SUMMARY_FIELDS:
        show(f"{key:<28} {summary[key]}")
    show(f"{'litigation_mix':<28} {summary['litigation_mix']}")
    show(f"{'product_mix':<28} {summary['product_mix']}")
    _, strat = buyer.request("GET", f"/api/v1/packages/{package['id']}/stratification/")
    for table in ("days_past_due", "legal_status"):
        step(f"Stratification by {table}")
        show(f"{'bucket':<24}{'loans':>8}{'balance':>18}{'share':>9}{'w.a. DPD':>10}")
        for row in strat[table]:
            show(
                f"{row['bucket']:<24}{row['loan_count']:>8,}{row['total_balance']:>18}"
                f"{row['balance_share']:>9}{row['weighted_avg_days_past_due'] or '-':>10}"
            )
    status, problem = buyer.request("GET", f"/api/v1/packages/{package['id']}/loans/", expect=403)
    show(f"buyer asks for loan-level rows before registering -> {status} {problem['code']}")
