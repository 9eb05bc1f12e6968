"""Transfer of ownership benchmark: a 1,000,000-loan transfer through the real task against a
bare UPDATE of the owner column, and the loan schedule's CSV over HTTP.

    .venv/bin/python bench/transfer.py [--loans 1000000] [--keep]

One run, against the database and broker of the settings (embedded ones if DATABASE_URL /
REDIS_URL are unset; ``make bench-transfer`` migrates first):

1. builds a sale through the services, as the test factories do (``tests/factories.py``): a
   bank's package with a five-loan tape, reviewed, auctioned, one confirmed bidder, closed and
   awarded; then adds ``--loans`` minus five loans to the package's current tape with one
   ``INSERT ... SELECT`` (the import is measured by ``bench/import_tape.py``, not here), marks the
   settlement paid (the confirm-payment service is another part of the settlement issue) and
   vacuums and analyses ``listings_loan``;
2. measures
   (b) the floor: ``UPDATE listings_loan SET owner_id = <buyer>`` on exactly those rows, one
       statement, committed; then sets the owners back to NULL and vacuums (not measured). It
       runs twice and the second is counted: the first UPDATE of freshly inserted rows writes
       every new version to new pages, the later ones reuse the space vacuum freed, as (a) does;
   (a) the real transfer: the Celery task body ``settlement.tasks.loans_transfer.run(id)`` in a
       child process (the task's own wall clock, and the peak RSS of that process): package
       sold, loans moved and stamped, digest, registry record, ledger payout, audit events;
3. starts gunicorn (1 sync worker), logs in as the buyer and reads the whole loan schedule,
   ``GET /api/v1/transfers/{id}/loans/?format=csv``, counting rows as they arrive: (c1) right
   after the transfer, then (c2) after ``VACUUM ANALYZE listings_loan``, as autovacuum leaves the
   table after an update of a million rows. The first read after the UPDATE also sets the hint
   bits of a million new row versions (it writes), so (c1) is the worst case, (c2) the usual one;
4. deletes the bench loans unless ``--keep`` (the sale's rows stay).

Targets: (a) within 2.5x of (b); peak RSS of (a) under 300 MB; the CSV (c2) at over 200,000
rows/s.
PASS/FAIL is computed from the measurements of this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import (  # bench/, this script's folder, is first on sys.path
    BASE_DIR,
    HOST,
    child_env,
    django_start,
    free_port,
    say,
    start_gunicorn,
    stop_gunicorn,
    verdict,
    wait_healthy,
)

if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

TARGET_A_OVER_B = 2.5
TARGET_RSS_MB = 300
TARGET_CSV_ROWS_PER_S = 200_000

# The task body, as a Celery worker runs it, in a fresh process of its own.
CHILD = """
import json, sys, time
import django
django.setup()
from settlement.tasks import loans_transfer
started = time.perf_counter()
transfer_id = loans_transfer.run(int(sys.argv[1]))
print(json.dumps({"transfer_id": transfer_id, "seconds": time.perf_counter() - started}))
"""

# More loans on the package's current tape, copied from its first loan with distinct ids and
# balances (one statement).
BULK_LOANS_SQL = """
INSERT INTO listings_loan (
    package_id, tape_import_id, loan_id, borrower_hash, product_type, currency,
    origination_date, default_date, outstanding_principal, accrued_interest, fees_and_penalties,
    balance, days_past_due, last_payment_date, last_payment_amount, interest_rate, borrower_age,
    region, legal_status, classification, written_off
)
SELECT l.package_id, l.tape_import_id, 'BENCH-' || lpad(g::text, 8, '0'),
       encode(sha256(convert_to(g::text, 'UTF8')), 'hex'), l.product_type, l.currency,
       l.origination_date, l.default_date, l.outstanding_principal + g / 100.0,
       l.accrued_interest, l.fees_and_penalties, l.balance + g / 100.0, l.days_past_due + g %% 900,
       l.last_payment_date, l.last_payment_amount, l.interest_rate, l.borrower_age, l.region,
       l.legal_status, l.classification, l.written_off
FROM listings_loan l, generate_series(1, %s) g
WHERE l.id = (SELECT min(id) FROM listings_loan WHERE tape_import_id = %s)
"""


def timed_sql(sql: str, params: list[object]) -> tuple[float, int]:
    """Run one statement in its own transaction; (seconds including the commit, rows)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    return time.perf_counter() - started, rows


def vacuum() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE listings_loan")
    return time.perf_counter() - started


# --------------------------------------------------------------------------- set-up


def paid_sale(loans: int):
    """A paid settlement of a package of ``loans`` loans; its buyer's username."""
    from django.db import connection
    from django.utils import timezone

    from listings.models import Package
    from settlement.models import Settlement
    from tests.factories import (
        AuctionFactory,
        OrganizationFactory,
        PackageFactory,
        UserFactory,
        settlement_mark_paid,
    )

    # Names and usernames of this run's organisations and users: unique across runs.
    for factory_class in (OrganizationFactory, UserFactory):
        factory_class.reset_sequence(int(time.time()))
    package = PackageFactory(status="approved", title=f"Bench transfer of {loans:,} loans")
    auction = AuctionFactory(package=package, state="awarded")
    settlement = Settlement.objects.get(auction=auction)
    package = Package.objects.get(pk=package.pk)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BULK_LOANS_SQL, [loans - package.loan_count, package.current_tape_id])
    say(f"set-up: {loans:,} loans inserted in {time.perf_counter() - started:.1f} s")
    settlement = settlement_mark_paid(settlement)
    buyer = settlement.bid.registration.registered_by
    assert settlement.paid_at is not None and settlement.paid_at <= timezone.now()
    return settlement, buyer.username


# --------------------------------------------------------------------------- measurements


def floor(settlement, package) -> tuple[float, int]:
    seconds, rows = timed_sql(
        "UPDATE listings_loan SET owner_id = %s WHERE tape_import_id = %s AND package_id = %s",
        [settlement.buyer_id, package.current_tape_id, package.pk],
    )
    timed_sql(
        "UPDATE listings_loan SET owner_id = NULL WHERE tape_import_id = %s AND package_id = %s",
        [package.current_tape_id, package.pk],
    )
    return seconds, rows


def run_transfer(settlement_id: int, work: Path) -> dict:
    out_path, err_path = work / "child.out", work / "child.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(settlement_id)],
            cwd=BASE_DIR,
            env=child_env(log_level="WARNING"),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        _, wait_status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(wait_status) != 0:
        raise RuntimeError(f"transfer child failed:\n{err_path.read_text()[-3000:]}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    return {
        "transfer_id": result["transfer_id"],
        "task_seconds": result["seconds"],
        "process_seconds": wall,
        "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,  # ru_maxrss is in KiB on Linux
    }


def read_schedule(base: str, token: str, transfer_id: int) -> tuple[float, int, int]:
    """(seconds to the last byte, data rows, bytes) of the whole schedule over HTTP."""
    request = urllib.request.Request(
        f"{base}/api/v1/transfers/{transfer_id}/loans/?format=csv",
        headers={"Authorization": f"Token {token}"},
    )
    lines = size = 0
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
    return time.perf_counter() - started, lines - 1, size


def schedule_csv(transfer_id: int, username: str, log_dir: Path) -> list[tuple[float, int, int]]:
    """The schedule read twice over HTTP: (c1) right after the transfer, (c2) after a VACUUM."""
    from tests.support import PASSWORD

    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = log_dir / "bench-transfer-gunicorn.log"
    proc = start_gunicorn(port, log_path, ["--workers", "1", "--timeout", "600"], "WARNING")
    try:
        wait_healthy(port, proc, log_path)
        login = urllib.request.Request(
            f"{base}/api/v1/auth/token/",
            data=json.dumps({"username": username, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.loads(response.read())["token"]
        first = read_schedule(base, token, transfer_id)
        say(f"VACUUM ANALYZE listings_loan after (c1): {vacuum():.1f} s")
        return [first, read_schedule(base, token, transfer_id)]
    finally:
        stop_gunicorn(proc)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench loans")
    args = parser.parse_args(argv)

    log_dir, database = django_start()
    from django.db import connection

    from listings.models import Loan, Package
    from settlement.models import Settlement, Transfer

    say(
        f"transfer bench: {args.loans:,} loans; {database}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
        f"Python {platform.python_version()}"
    )

    settlement, buyer_username = paid_sale(args.loans)
    package = Package.objects.get(pk=settlement.package_id)
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    try:
        say(f"VACUUM ANALYZE listings_loan: {vacuum():.1f} s")
        # A first pass, not counted: the freshly inserted table has no free space, so the first
        # UPDATE writes every new row version to new pages and the ones after it do not; the
        # floor and (a) are then both measured on a table that has been updated before.
        warm_s, _ = floor(settlement, package)
        say(f"warm-up UPDATE (not counted): {warm_s:.2f} s; VACUUM ANALYZE: {vacuum():.1f} s")
        floor_s, floor_rows = floor(settlement, package)
        say(f"(b) floor, bare UPDATE of owner_id: {floor_rows:,} rows in {floor_s:.2f} s")
        say(f"VACUUM ANALYZE listings_loan after resetting the owners: {vacuum():.1f} s")

        result = run_transfer(settlement.pk, work)
        transfer = Transfer.objects.get(pk=result["transfer_id"])
        a_s = result["task_seconds"]
        say(
            f"(a) transfer task: {transfer.loan_count:,} loans in {a_s:.2f} s "
            f"(process {result['process_seconds']:.2f} s), peak RSS "
            f"{result['peak_rss_mb']:.0f} MB; digest {transfer.digest}"
        )
        moved = Loan.objects.filter(transfer_id=transfer.pk, owner_id=settlement.buyer_id).count()
        completed = Settlement.objects.get(pk=settlement.pk).status == "completed"

        reads = schedule_csv(transfer.pk, buyer_username, log_dir)
        for name, (csv_s, csv_rows, csv_bytes) in zip(("c1", "c2"), reads, strict=True):
            say(
                f"({name}) loan schedule CSV over HTTP: {csv_rows:,} rows, "
                f"{csv_bytes / 1e6:.1f} MB in {csv_s:.2f} s = {csv_rows / csv_s:,.0f} rows/s"
            )
        csv_rate = csv_rows / csv_s
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
        if not args.keep:
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM listings_loan WHERE tape_import_id = %s",
                    [package.current_tape_id],
                )

    ratio = a_s / floor_s
    checks = [
        (f"(a) within {TARGET_A_OVER_B}x of (b): {ratio:.2f}x", ratio <= TARGET_A_OVER_B),
        (
            f"peak RSS of (a) under {TARGET_RSS_MB} MB: {result['peak_rss_mb']:.0f} MB",
            result["peak_rss_mb"] < TARGET_RSS_MB,
        ),
        (
            f"(c2) schedule CSV over {TARGET_CSV_ROWS_PER_S:,} rows/s: {csv_rate:,.0f}",
            csv_rate > TARGET_CSV_ROWS_PER_S,
        ),
        (
            f"every loan moved once ({moved:,} of {args.loans:,}), settlement completed",
            moved == args.loans == transfer.loan_count == csv_rows and completed,
        ),
    ]
    for text, ok in checks:
        say(f"{verdict(ok)}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
