"""Loan tape import benchmark: the real import against a COPY floor and a typical Django import.

    .venv/bin/python bench/import_tape.py [--rows 1000000] [--seed 7] [--keep] [--format csv|xlsx]

One run, against the database and broker of the settings (embedded ones if DATABASE_URL /
REDIS_URL are unset):

1. writes a synthetic tape (``listings.tape_generator.write_tape``) to a temporary folder;
2. creates (or reuses) a bank, a disposal officer and a draft package, and uploads the tape with
   ``listings.services.loan_tape_upload``; vacuums ``listings_loan`` (the loans an earlier run
   deleted would otherwise keep autovacuum busy during the measurement); then measures
   (a) the real import: the Celery task body ``listings.tasks.loan_tape_import.run(id)`` in a
       child process (wall clock, peak RSS of that process, the phase timings it logs);
   (b) the floor: ``COPY`` of the same file, streamed in 1 MiB chunks through psycopg's
       ``cursor.copy()``, into a bare logged table of the same column types;
   (c) a typical Django import: ``csv`` module, ``Loan`` objects, ``bulk_create(batch_size=5000)``
       into ``listings_loan`` for a second draft package (rows deleted afterwards);
3. starts gunicorn (2 workers), logs in as the seller and times 20 GETs each of the package
   summary and its stratification;
4. cleans up: temporary files, gunicorn, the bare table, the loans of (c), and (unless --keep)
   the loans of (a) and the stored upload. Package rows stay.

Targets: (a) within 2.0x of (b); (a) at least 5x faster than (c); peak RSS of (a) under 500 MB;
p95 of each GET under 200 ms. PASS/FAIL is computed from the measurements of this run.

With ``--format xlsx`` the same tape is also written as an XLSX workbook (cells typed as Excel
types them: dates, numbers, booleans; openpyxl, not timed) and imported the same way into a
second draft package: (x). It prints (a), (x), whether both packages got the same loan count
and summary, and the target "(x) under 2x (a)"; (b), (c) and the HTTP part are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from benchlib import (  # bench/, this script's folder, is first on sys.path
    BASE_DIR,
    HOST,
    child_env,
    django_start,
    free_port,
    percentile,
    say,
    start_gunicorn,
    stop_gunicorn,
    verdict,
    wait_healthy,
)

if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

CURRENCY = "EUR"
CUT_OFF = dt.date(2026, 9, 30)
CHUNK = 1 << 20
BATCH = 5000
REQUESTS = 20
ORG_NAME = "Bench Bank (loan tape import bench)"
USERNAME = "bench-import-seller"
PASSWORD = "Bench-import-pw-2026!"  # noqa: S105  (a throwaway bench account)

TARGET_A_OVER_B = 2.0
TARGET_C_OVER_A = 5.0
TARGET_RSS_MB = 500
TARGET_P95_MS = 200
TARGET_X_OVER_A = 2.0
SUMMARY_FIELDS = (
    "loan_count",
    "borrower_count",
    "total_balance",
    "weighted_avg_days_past_due",
    "weighted_avg_borrower_age",
    "max_borrower_balance",
    "stratification",
)

# The task body, as a Celery worker runs it, in a fresh process of its own.
CHILD = """
import json, sys, time
import django
django.setup()
from listings.tasks import loan_tape_import
started = time.perf_counter()
status = loan_tape_import.run(int(sys.argv[1]))
print(json.dumps({"status": status, "seconds": time.perf_counter() - started}))
"""

# Column types of the loan tape (as listings_loan stores them), for the floor's bare table.
FLOOR_TYPES = {
    "loan_id": "text",
    "borrower_id": "text",
    "product_type": "text",
    "currency": "text",
    "origination_date": "date",
    "default_date": "date",
    "outstanding_principal": "numeric(18,2)",
    "accrued_interest": "numeric(18,2)",
    "fees_and_penalties": "numeric(18,2)",
    "days_past_due": "integer",
    "last_payment_date": "date",
    "last_payment_amount": "numeric(18,2)",
    "interest_rate": "numeric(9,4)",
    "borrower_age": "integer",
    "region": "text",
    "legal_status": "text",
    "classification": "text",
    "written_off": "boolean",
}


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>9,.0f} rows/s"


# --------------------------------------------------------------------------- set-up


def seller():
    """The bench's bank and disposal officer, created through the services on first use."""
    from marketplace.accounts.models import Organization, User
    from marketplace.accounts.services import member_create, organization_create

    org = Organization.objects.filter(name=ORG_NAME).first()
    if org is None:
        org = organization_create(actor=None, name=ORG_NAME, kind="bank")
    user = User.objects.filter(username=USERNAME).first()
    if user is not None and user.organization_id == org.pk and user.check_password(PASSWORD):
        return user
    username = USERNAME if user is None else f"{USERNAME}-{int(time.time())}"
    return member_create(
        actor=None,
        organization_id=org.pk,
        username=username,
        password=PASSWORD,
        role="disposal_officer",
    )


def new_package(user, title: str):
    from listings.services import package_create

    return package_create(actor=user, title=title, currency=CURRENCY, cut_off_date=CUT_OFF)


def withdraw_enqueued_message(import_id: int) -> bool:
    """Remove the one broker message loan_tape_upload enqueued on commit for this import (the
    bench runs the task body itself), so no worker started later picks up a stale message."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = settings.CELERY_TASK_ROUTES["listings.*"]["queue"]
    for raw in client.lrange(queue, 0, -1):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            headers = json.loads(raw).get("headers", {})
            if headers.get("task") == "listings.loan_tape_import" and headers.get("argsrepr") in (
                f"({import_id},)",
                f"[{import_id}]",
            ):
                return client.lrem(queue, 1, raw) == 1
    return False


# --------------------------------------------------------------------------- (a) the import


def run_import(import_id: int, work: Path, log_dir: Path) -> dict:
    out_path, err_path = work / "child.out", work / "child.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(import_id)],
            cwd=BASE_DIR,
            env=child_env(log_level="INFO"),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        _, wait_status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
    stderr = err_path.read_text(errors="replace")
    (log_dir / "bench-import-child.log").write_text(stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"import child exited with {proc.returncode}:\n{stderr[-3000:]}")
    result = json.loads(out_path.read_text().strip().splitlines()[-1])
    phases = re.search(r"tape import \d+ phases \(s\): (\{.*\})", stderr)
    return {
        "status": result["status"],
        "task_seconds": result["seconds"],
        "process_seconds": wall,
        "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,  # ru_maxrss is in KiB on Linux
        "phases": phases.group(1) if phases else None,
    }


# --------------------------------------------------------------------------- (b) the floor


def copy_floor(path: Path, rows: int) -> float:
    from django.db import connection

    from listings.tape_generator import HEADER

    table = f"bench_tape_floor_{os.getpid()}"
    columns = ", ".join(f"{name} {FLOOR_TYPES[name]}" for name in HEADER)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} ({columns})")
        try:
            started = time.perf_counter()
            with (
                open(path, "rb") as handle,
                cursor.copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            ):
                while chunk := handle.read(CHUNK):
                    copy.write(chunk)
            seconds = time.perf_counter() - started  # autocommit: the COPY has committed
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our own table name)
            (loaded,) = cursor.fetchone()
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    if loaded != rows:
        raise RuntimeError(f"floor COPY loaded {loaded} rows, expected {rows}")
    return seconds


# --------------------------------------------------------------------------- (c) Django


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _decimal(value: str) -> Decimal | None:
    return Decimal(value) if value else None


def _int(value: str) -> int | None:
    return int(value) if value else None


def _bool(value: str) -> bool | None:
    return value.lower() == "true" if value else None


def django_import(path: Path, package, tape) -> tuple[float, int]:
    """What a typical Django import does: csv rows -> model objects -> bulk_create."""
    from django.db import transaction

    from listings.models import Loan
    from listings.tape.hashing import borrower_hash

    count = 0
    started = time.perf_counter()
    with transaction.atomic(), open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        at = {name: index for index, name in enumerate(next(reader))}
        batch: list[Loan] = []
        for row in reader:
            principal = Decimal(row[at["outstanding_principal"]])
            interest = Decimal(row[at["accrued_interest"]])
            fees = _decimal(row[at["fees_and_penalties"]]) or Decimal("0")
            batch.append(
                Loan(
                    package_id=package.pk,
                    tape_import_id=tape.pk,
                    loan_id=row[at["loan_id"]],
                    borrower_hash=borrower_hash(row[at["borrower_id"]]),
                    product_type=row[at["product_type"]],
                    currency=row[at["currency"]],
                    origination_date=_date(row[at["origination_date"]]),
                    default_date=_date(row[at["default_date"]]),
                    outstanding_principal=principal,
                    accrued_interest=interest,
                    fees_and_penalties=fees,
                    balance=principal + interest + fees,
                    days_past_due=int(row[at["days_past_due"]]),
                    last_payment_date=_date(row[at["last_payment_date"]]),
                    last_payment_amount=_decimal(row[at["last_payment_amount"]]),
                    interest_rate=_decimal(row[at["interest_rate"]]),
                    borrower_age=_int(row[at["borrower_age"]]),
                    region=row[at["region"]],
                    legal_status=row[at["legal_status"]],
                    classification=row[at["classification"]],
                    written_off=_bool(row[at["written_off"]]),
                )
            )
            if len(batch) == BATCH:
                Loan.objects.bulk_create(batch, batch_size=BATCH)
                count += len(batch)
                batch = []
        if batch:
            Loan.objects.bulk_create(batch, batch_size=BATCH)
            count += len(batch)
    return time.perf_counter() - started, count


def delete_loans(tape_import_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM listings_loan WHERE tape_import_id = %s", [tape_import_id])
        return cursor.rowcount


# --------------------------------------------------------------------------- the XLSX tape


def write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """The CSV tape as a workbook whose cells are typed as Excel types them."""
    from openpyxl import Workbook

    from listings.tape import kinds
    from listings.tape.format import COLUMNS_BY_NAME

    def typed(kind, text: str):
        if text == "":
            return None
        if kind is kinds.DATE:
            return dt.date.fromisoformat(text)
        if kind in (kinds.MONEY, kinds.RATE):
            return float(text)
        if kind in (kinds.INTEGER, kinds.SMALL_INTEGER):
            return int(text)
        if kind is kinds.BOOL:
            return text == "true"
        return text

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Loans")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        sheet.append(header)
        column_kinds = [COLUMNS_BY_NAME[name].kind for name in header]
        for row in reader:
            sheet.append([typed(k, v) for k, v in zip(column_kinds, row, strict=True)])
    workbook.save(xlsx_path)


def import_file(user, path: Path, file_type: str, title: str, work: Path, log_dir: Path):
    """Upload ``path`` to a new draft package and run its import in a child: (result, package,
    tape). Raises unless every row was loaded."""
    from django.core.files import File

    from listings.models import Loan, TapeStatus
    from listings.services import loan_tape_upload

    package = new_package(user, title)
    with open(path, "rb") as handle:
        tape = loan_tape_upload(
            actor=user,
            package_id=package.pk,
            upload=File(handle, name=path.name),
            file_type=file_type,
        )
    if not withdraw_enqueued_message(tape.pk):
        say("note: the broker message queued by loan_tape_upload was not found to remove")
    result = run_import(tape.pk, work, log_dir)
    tape.refresh_from_db()
    package.refresh_from_db()
    loaded = Loan.objects.filter(tape_import_id=tape.pk).count()
    if not (
        result["status"] == TapeStatus.SUCCEEDED == tape.status
        and tape.rows_processed == loaded == package.loan_count
        and package.current_tape_id == tape.pk
    ):
        raise RuntimeError(
            f"{file_type} import did not succeed as expected: status "
            f"{result['status']}/{tape.status}, rows {tape.rows_processed}, loans {loaded}, "
            f"errors {tape.errors[:3]}"
        )
    if result["phases"] is None:
        raise RuntimeError("the child logged no phase timings: did it run the import?")
    return result, package, tape


def report_import(label: str, result: dict, rows: int, package, tape) -> None:
    seconds = result["task_seconds"]
    say(
        f"{label}: {seconds:7.2f} s {rate(rows, seconds)}  (package {package.pk}, import {tape.pk})"
    )
    say(
        f"    child process {result['process_seconds']:.2f} s including start-up; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    say(f"    phases (s): {result['phases']}")


def compare_xlsx(user, tape_path: Path, package, a_s: float, work, log_dir, rows: int, stamp):
    """(x): the same tape as XLSX, imported like (a); the same loans and summary, and the
    time against (a). Returns the XLSX import (for clean-up)."""
    xlsx_path = tape_path.with_suffix(".xlsx")
    started = time.perf_counter()
    write_xlsx(tape_path, xlsx_path)
    say(
        f"XLSX tape: {xlsx_path.stat().st_size / 1e6:,.1f} MB, written with openpyxl in "
        f"{time.perf_counter() - started:.1f} s (not timed)"
    )
    title = f"Bench import {rows:,} loans as XLSX ({stamp})"
    x, package_x, tape_x = import_file(user, xlsx_path, "xlsx", title, work, log_dir)
    report_import("(x) XLSX import, Celery task body in a child", x, rows, package_x, tape_x)
    same = all(getattr(package, f) == getattr(package_x, f) for f in SUMMARY_FIELDS)
    say(f"    same loan count and summary as (a): {'yes' if same else 'NO'}")
    x_over_a = x["task_seconds"] / a_s
    say("target:")
    say(
        f"  (x) XLSX under {TARGET_X_OVER_A}x the CSV import (a): x/a = {x_over_a:5.2f}x  "
        f"{verdict(x_over_a < TARGET_X_OVER_A and same)}"
    )
    return tape_x


# --------------------------------------------------------------------------- HTTP


def http(url: str, *, data: dict | None = None, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def api_latency(package_id: int, username: str, log_dir: Path) -> dict[str, list[float]]:
    port = free_port()
    base = f"http://{HOST}:{port}"
    log_path = log_dir / "bench-import-gunicorn.log"
    proc = start_gunicorn(port, log_path, ["--workers", "2"], log_level="INFO")
    try:
        wait_healthy(port, proc, log_path)
        _, body = http(
            f"{base}/api/v1/auth/token/", data={"username": username, "password": PASSWORD}
        )
        token = json.loads(body)["token"]
        out: dict[str, list[float]] = {}
        for path in (
            f"/api/v1/packages/{package_id}/",
            f"/api/v1/packages/{package_id}/stratification/",
        ):
            samples = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                status, _ = http(base + path, token=token)
                samples.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"GET {path} returned {status}")
            out[path.replace(str(package_id), "{id}")] = samples
        return out
    finally:
        stop_gunicorn(proc)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the imported loans of (a)")
    parser.add_argument(
        "--format",
        choices=["csv", "xlsx"],
        default="csv",
        help="xlsx: also import the same tape as XLSX and compare with (a)",
    )
    args = parser.parse_args(argv)
    rows = args.rows

    log_dir, database = django_start()
    from django.db import connection

    from listings.models import LoanTapeImport, TapeStatus
    from listings.tape_generator import write_tape

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    say(
        f"loan tape import bench: {rows:,} rows, seed {args.seed}; {database}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}"
    )

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    tape = tape_c = xlsx_tape = None
    try:
        tape_path = work / f"bench-tape-{rows}-seed{args.seed}.csv"
        started = time.perf_counter()
        write_tape(tape_path, rows, seed=args.seed, currency=CURRENCY, cut_off=CUT_OFF)
        size_mb = tape_path.stat().st_size / 1e6
        say(f"tape: {size_mb:,.1f} MB, generated in {time.perf_counter() - started:.1f} s")

        user = seller()

        # The loans a previous run deleted leave autovacuum work on listings_loan; done now
        # (a running autovacuum yields to it), so it does not run alongside (a).
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM listings_loan")
        say(f"VACUUM listings_loan before (a): {time.perf_counter() - started:.1f} s")

        # (a) the real import, as a worker runs it.
        title = f"Bench import {rows:,} loans, seed {args.seed} ({stamp})"
        a, package, tape = import_file(user, tape_path, "csv", title, work, log_dir)
        if tape.rows_processed != rows:
            raise RuntimeError(f"import loaded {tape.rows_processed} rows, expected {rows}")
        report_import("(a) import, Celery task body in a child", a, rows, package, tape)
        a_s = a["task_seconds"]

        if args.format == "xlsx":
            xlsx_tape = compare_xlsx(user, tape_path, package, a_s, work, log_dir, rows, stamp)
            return 0

        # (b) the floor.
        b_s = copy_floor(tape_path, rows)
        say(f"(b) floor, COPY into a bare logged table: {b_s:7.2f} s {rate(rows, b_s)}")

        # (c) a typical Django import, into a second draft package.
        package_c = new_package(user, f"Bench import, Django baseline, seed {args.seed} ({stamp})")
        tape_c = LoanTapeImport.objects.create(
            package=package_c,
            uploaded_by=user,
            # Never a real import: failed from the start, so no sweeper or submit touches it.
            status=TapeStatus.FAILED,
            file_name=tape_path.name,
            file_type="csv",
            file_size=tape_path.stat().st_size,
            stored_path="",
            errors=[
                {
                    "line": 0,
                    "column": None,
                    "code": "bench_only",
                    "message": "bench/import_tape.py baseline: loans bulk-created, then deleted",
                }
            ],
            error_count=1,
        )
        c_s, c_rows = django_import(tape_path, package_c, tape_c)
        if c_rows != rows:
            raise RuntimeError(f"Django import loaded {c_rows} rows, expected {rows}")
        say(
            f"(c) Django csv + bulk_create({BATCH}):     {c_s:7.2f} s {rate(rows, c_s)}"
            f"  (package {package_c.pk})"
        )

        a_over_b, c_over_a = a_s / b_s, c_s / a_s
        with_start = a["process_seconds"]
        say("targets:")
        say(
            f"  (a) within {TARGET_A_OVER_B}x of (b):  a/b = {a_over_b:5.2f}x  "
            f"{verdict(a_over_b <= TARGET_A_OVER_B)}  [child start-up included: "
            f"{with_start / b_s:.2f}x]"
        )
        say(
            f"  (a) >= {TARGET_C_OVER_A}x faster than (c): c/a = {c_over_a:5.2f}x  "
            f"{verdict(c_over_a >= TARGET_C_OVER_A)}  [child start-up included: "
            f"{c_s / with_start:.2f}x]"
        )
        say(
            f"  peak RSS of (a) < {TARGET_RSS_MB} MB: {a['peak_rss_mb']:.0f} MB  "
            f"{verdict(a['peak_rss_mb'] < TARGET_RSS_MB)}"
        )

        # 3. the summary and stratification over HTTP.
        latency = api_latency(package.pk, user.username, log_dir)
        say(f"API via gunicorn (2 workers), {REQUESTS} sequential GETs each:")
        for path, samples in latency.items():
            p95 = percentile(samples, 95)
            say(
                f"  {path:<41} p50 {percentile(samples, 50):6.1f}  p95 {p95:6.1f}  "
                f"max {max(samples):6.1f} ms  (p95 < {TARGET_P95_MS} ms) "
                f"{verdict(p95 < TARGET_P95_MS)}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if tape_c is not None:
            delete_loans(tape_c.pk)
        if xlsx_tape is not None:
            delete_loans(xlsx_tape.pk)
            Path(xlsx_tape.stored_path).unlink(missing_ok=True)
        if tape is not None:
            if args.keep:
                say(f"kept: package {tape.package_id} and its loans (import {tape.pk})")
            else:
                deleted = delete_loans(tape.pk)
                Path(tape.stored_path).unlink(missing_ok=True)
                say(f"cleaned up: {deleted:,} loans of package {tape.package_id} deleted")
        say(f"logs: {log_dir}/bench-import-child.log, {log_dir}/bench-import-gunicorn.log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
