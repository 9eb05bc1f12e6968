"""Loan tape import: streamed, validated, loaded, all or nothing (``loan_tape_process``).

Pipeline of one import (run by the Celery task ``listings.loan_tape_import``):

1. The upload is opened as a tape (``reading``): a CSV as it is; an XLSX's first sheet read
   into Arrow by fastexcel, after its declared size is checked (``invalid_file``).
2. The header is checked: PII columns (``pii_not_allowed``), required columns
   (``missing_column``), duplicates.
3. In one transaction, the fast path first (``fast_load``): the tape's Arrow blocks are
   checked, hashed and sent typed by binary COPY into ``listings_loan``. A clean tape, CSV or
   XLSX, is loaded that way in one pass.
4. Anything the fast path does not take rolls its savepoint back, and the SQL path
   (``sql_load``) decides: it stages the tape's CSV as text, checks every rule in SQL, and
   rejects the tape with every error, or loads it.
5. Then the package's previous loans are deleted, the disclosure is computed in SQL
   (``disclosure``) and stored, and the import is marked succeeded, all in that same
   transaction. A failed upload therefore never touches the previous good tape.

Memory stays flat for a CSV: the file is never held in memory (a few MiB blocks at a time,
with bounded queues). An XLSX sheet is held as Arrow text cells while it is loaded.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from listings.codes import AuditAction, ErrorCode
from listings.models import LoanTapeImport, Package, PackageStatus, TapeStatus
from listings.tape import disclosure, fast_load, risk, sql_load
from listings.tape.context import TapeJob
from listings.tape.errors import (
    MAX_ERRORS_KEPT,
    Miss,
    TapeError,
    TapeRejected,
    tape_error,
)
from listings.tape.format import BALANCE_LIMIT
from listings.tape.hashing import borrower_hash_key
from listings.tape.progress import Clock, Progress
from listings.tape.reading import TapeSource, check_header, open_tape, remove_upload
from marketplace.audit.services import record
from marketplace.common.codes import ErrorCode as CommonCode
from marketplace.common.errors import DomainError, InvalidState
from marketplace.common.locks import try_advisory_xact_lock

logger = logging.getLogger(__name__)

TOTAL_TOO_LARGE = "the tape's total balance must be below 10^16, as the package's totals are"
# A worker cut off by its time limit leaves its statement behind: the soft limit closes the
# connection mid-statement (the rollback fails), the hard one kills the process. PostgreSQL
# then notices the missing client only when it next writes to it (after a lock wait or a long
# aggregate); this makes it check every second and cancel, releasing the import's locks.
IMPORT_CLIENT_CHECK = "SET LOCAL client_connection_check_interval = '1s'"
# What PostgreSQL may refuse in the fast path's binary COPY: text it does not store (a NUL
# character), a value outside a column's type, a duplicate loan id (the unique index).
FAST_PATH_DB_ERRORS = (
    DataError,
    IntegrityError,
    psycopg.errors.DataError,
    psycopg.errors.IntegrityError,
)


def loan_tape_process(*, import_id: int) -> LoanTapeImport:
    """Validate and load one uploaded tape. Idempotent: a finished import is left as it is, and
    an import interrupted by a crash (status processing, nothing committed) runs again.

    Locks: the import row while claiming it; then, in the import transaction, the package row
    (so submit/withdraw/new uploads wait for the load to finish, and a superseded import fails).
    """
    tape = _claim(import_id)
    if tape.status != TapeStatus.PROCESSING:
        return tape
    progress = Progress(tape.pk)
    clock = Clock(tape.pk)
    source: TapeSource | None = None
    try:
        source = open_tape(Path(tape.stored_path), tape.file_type)
        clock.lap("open")  # an XLSX sheet is read here, before the import transaction
        with transaction.atomic():
            # One worker per import at a time: a redelivered or swept duplicate backs off.
            if not try_advisory_xact_lock(f"loan_tape_import:{tape.pk}"):
                return tape
            tape.refresh_from_db()
            if tape.status != TapeStatus.PROCESSING:
                return tape
            _succeed(tape, _load(tape, source, progress, clock))
    except TapeRejected as exc:
        _fail(tape, exc.errors, exc.total, rows_read=progress.rows)
    except DomainError as exc:
        _fail(tape, [tape_error(0, None, exc.code, exc.detail)], 1, rows_read=progress.rows)
    finally:
        progress.close()
        if source is not None:
            source.close()
    tape.refresh_from_db()
    if tape.status in (TapeStatus.SUCCEEDED, TapeStatus.FAILED):
        # The uploaded file holds raw borrower ids: once the outcome is recorded it has no use
        # left, so it goes (after commit; an import interrupted before that keeps it to rerun).
        stored_path = tape.stored_path
        transaction.on_commit(lambda: remove_upload(stored_path))
    return tape


def loan_tape_time_out(*, import_id: int, seconds: int) -> LoanTapeImport:
    """An import cut off by its time limit fails with ``invalid_file`` (a tape that takes that
    long is not a plausible tape), unless it finished meanwhile; the upload then goes, as after
    any outcome. Locks the import row and re-checks its status after the lock."""
    with transaction.atomic():
        tape = LoanTapeImport.objects.select_for_update().get(pk=import_id)
        if tape.status != TapeStatus.PROCESSING:
            return tape
        detail = f"the import did not finish within its time limit ({seconds} s)"
        _fail(tape, [tape_error(0, None, ErrorCode.INVALID_FILE, detail)], 1, rows_read=0)
        stored_path = tape.stored_path
        transaction.on_commit(lambda: remove_upload(stored_path))
    tape.refresh_from_db()
    return tape


def _claim(import_id: int) -> LoanTapeImport:
    """The import, marked processing unless it already finished."""
    with transaction.atomic():
        tape = LoanTapeImport.objects.select_for_update().get(pk=import_id)
        if tape.status in (TapeStatus.SUCCEEDED, TapeStatus.FAILED):
            return tape
        tape.status = TapeStatus.PROCESSING
        tape.started_at = timezone.now()
        tape.rows_processed = 0
        tape.save(update_fields=["status", "started_at", "rows_processed"])
    return tape


def _load(tape: LoanTapeImport, source: TapeSource, progress: Progress, clock: Clock) -> int:
    """Runs inside the import transaction; returns the number of loans loaded."""
    with connection.cursor() as cursor:
        cursor.execute(IMPORT_CLIENT_CHECK)
    package = Package.objects.select_for_update().get(pk=tape.package_id)
    if package.status != PackageStatus.DRAFT:
        raise InvalidState(f"package is {package.status}; tapes load only into drafts")
    if package.latest_tape_id != tape.pk:
        raise InvalidState("a newer loan tape was uploaded for this package")
    if not source.header:
        raise TapeRejected.one(1, ErrorCode.EMPTY_TAPE, "the tape is empty")
    job = TapeJob(
        tape=tape,
        package=package,
        source=source,
        positions=check_header(source.header),
        progress=progress,
        hash_key=borrower_hash_key(),
        clock=clock,
    )
    with connection.cursor() as cursor:
        # Dates are YYYY-MM-DD; never read a day-first or month-first date by accident.
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        # Aggregates over a million rows (duplicates, disclosure) hash in memory, not on disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        rows = _load_rows(cursor, job)
        if package.current_tape_id is not None:  # the previous good tape's loans go now
            cursor.execute(
                "DELETE FROM listings_loan WHERE tape_import_id = %s", [package.current_tape_id]
            )
        job.lap("delete_previous")
    disclosure.package_compute_disclosure(package=package, tape=tape)
    job.lap("disclosure")
    risk.package_compute_risk(package=package, tape=tape)
    job.lap("risk")
    if package.total_balance >= Decimal(BALANCE_LIMIT):  # every total is at most this one
        raise TapeRejected.one(0, CommonCode.INVALID_VALUE, TOTAL_TOO_LARGE)
    package.current_tape = tape
    package.save()
    clock.log()
    return rows


def _load_rows(cursor: Any, job: TapeJob) -> int:
    """Common case: a clean tape is checked and hashed in this process and COPYed typed into
    the loan table in one pass. Anything else goes to the SQL path, which decides and reports
    every error."""
    try:
        with transaction.atomic():  # a savepoint: a miss rolls back only this attempt
            rows = fast_load.load(cursor, job)
            if not rows:  # an empty tape is reported by the SQL path
                raise Miss("no rows")
    except (Miss, *FAST_PATH_DB_ERRORS) as exc:
        logger.info("tape import %s takes the SQL path: %s", job.tape.pk, str(exc)[:200])
        job.lap("fast_path_missed")
        return sql_load.load(cursor, job)
    job.lap("fast_load")
    job.rows_counted(rows)
    return rows


def _succeed(tape: LoanTapeImport, rows: int) -> None:
    tape.status = TapeStatus.SUCCEEDED
    tape.rows_processed = rows
    tape.error_count = 0
    tape.errors = []
    tape.finished_at = timezone.now()
    tape.save()
    record(
        action=AuditAction.LOAN_TAPE_IMPORTED,
        object_type="package",
        object_id=tape.package_id,
        actor=tape.uploaded_by,
        data={
            "import_id": tape.pk,
            "rows": rows,
            "file_name": tape.file_name,
            "file_type": tape.file_type,
        },
    )


def _fail(tape: LoanTapeImport, errors: list[TapeError], total: int, rows_read: int) -> None:
    with transaction.atomic():
        locked = LoanTapeImport.objects.select_for_update().get(pk=tape.pk)
        locked.status = TapeStatus.FAILED
        locked.rows_total = tape.rows_total if tape.rows_total is not None else rows_read
        locked.rows_processed = locked.rows_total
        locked.errors = errors[:MAX_ERRORS_KEPT]
        locked.error_count = total
        locked.finished_at = timezone.now()
        locked.save()
        record(
            action=AuditAction.LOAN_TAPE_FAILED,
            object_type="package",
            object_id=tape.package_id,
            actor=tape.uploaded_by,
            data={
                "import_id": tape.pk,
                "error_count": total,
                "codes": sorted({e["code"] for e in errors}),
            },
        )
