"""Loan tape upload and import: streamed, validated in SQL, loaded with COPY, all or nothing.

Pipeline of one import (``loan_tape_process``, run by a Celery task):

1. XLSX is first converted, row by row, to a CSV file (openpyxl read-only mode).
2. The header is checked in Python: PII columns (``pii_not_allowed``), required columns
   (``missing_column``), duplicates.
3. In one transaction: the file is streamed in 1 MiB chunks, checked as UTF-8 on the way
   (``invalid_encoding`` with its line), into ``COPY`` of a temporary staging table of text
   columns. Every rule of the format is then checked by one SQL scan of the staging table, and
   duplicate loan ids by one aggregate. Any error: the transaction rolls back, nothing is
   imported, and the import is marked failed with every error counted and the first 1000 kept.
4. Otherwise ``INSERT ... SELECT`` casts the rows into ``listings_loan``, borrower ids become
   HMAC-SHA256 digests computed in SQL, the package's previous loans are deleted, the summary
   and stratification are computed in SQL and stored, and the import is marked succeeded, all in
   that same transaction. A failed upload therefore never touches the previous good tape.

Memory stays flat: the file is never held in memory, and rows never become Python objects.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import hmac
import io
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from listings import tape_format
from listings.models import LoanTapeImport, Package, PackageStatus, TapeStatus
from listings.services import disclosure
from marketplace.audit.services import record
from marketplace.common.errors import DomainError, InvalidState

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 1000
CHUNK = 1 << 20
PROGRESS_EVERY_ROWS = 50_000
XLSX_MAGIC = b"PK\x03\x04"


class TapeRejected(Exception):
    """The tape is invalid; carries every error found (line, column, code, message)."""

    def __init__(self, errors: list[dict], total: int | None = None) -> None:
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(f"{self.total} errors")


def _error(line: int, column: str | None, code: str, message: str) -> dict:
    return {"line": line, "column": column, "code": code, "message": message}


# --------------------------------------------------------------------------- upload


def uploads_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def detect_file_type(name: str, head: bytes) -> str | None:
    lower = (name or "").lower()
    if lower.endswith(".xlsx") or head.startswith(XLSX_MAGIC):
        return "xlsx" if head.startswith(XLSX_MAGIC) else None
    if lower.endswith(".csv") or lower.endswith(".txt") or not lower.rpartition(".")[1]:
        return "csv"
    return None


# --------------------------------------------------------------------------- header


def _decode_header(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TapeRejected(
            [_error(1, None, "invalid_encoding", f"line 1 is not UTF-8: {exc}")]
        ) from exc


def check_header(columns: list[str]) -> dict[str, int]:
    """Map known column name -> position; raise TapeRejected for PII, missing or duplicates."""
    errors: list[dict] = []
    names = [c.strip().lower() for c in columns]
    for name in names:
        if name in tape_format.PII_COLUMNS:
            errors.append(
                _error(
                    1,
                    name,
                    "pii_not_allowed",
                    f"column {name!r} holds borrower PII, which is never accepted",
                )
            )
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in tape_format.COLUMNS_BY_NAME:
            if name in positions:
                errors.append(_error(1, name, "invalid_value", f"column {name!r} appears twice"))
            positions.setdefault(name, index)
    for name in tape_format.REQUIRED:
        if name not in positions:
            errors.append(_error(1, name, "missing_column", f"required column {name!r} is missing"))
    if errors:
        raise TapeRejected(errors)
    return positions


# --------------------------------------------------------------------------- XLSX


def xlsx_to_csv(source: Path, target: Path) -> None:
    """Write the first sheet as UTF-8 CSV, one row at a time (read-only, streaming)."""
    import datetime as dt

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001  (any parse failure means not a usable XLSX)
        raise TapeRejected(
            [_error(1, None, "unsupported_file_type", f"not a readable XLSX workbook: {exc}")]
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        with open(target, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            for row in sheet.iter_rows(values_only=True):
                cells = []
                for value in row:
                    if value is None:
                        cells.append("")
                    elif isinstance(value, bool):
                        cells.append("true" if value else "false")
                    elif isinstance(value, dt.datetime):
                        cells.append(value.date().isoformat())
                    elif isinstance(value, dt.date):
                        cells.append(value.isoformat())
                    elif isinstance(value, float):
                        cells.append(str(int(value)) if value.is_integer() else repr(value))
                    else:
                        cells.append(str(value))
                while cells and cells[-1] == "":
                    cells.pop()
                if cells:
                    writer.writerow(cells)
    finally:
        workbook.close()


# --------------------------------------------------------------------------- streaming


class _Progress:
    """Writes rows_processed from a separate autocommit connection, so clients see it live."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.rows = 0
        self.reported = 0
        self.conn: psycopg.Connection | None = None

    def add(self, rows: int) -> None:
        self.rows += rows
        if self.rows - self.reported >= PROGRESS_EVERY_ROWS:
            self.flush()

    def flush(self) -> None:
        try:
            if self.conn is None:
                params = connection.get_connection_params()
                self.conn = psycopg.connect(**params, autocommit=True)
            self.conn.execute(
                "UPDATE listings_loantapeimport SET rows_processed = %s WHERE id = %s",
                [self.rows, self.import_id],
            )
            self.reported = self.rows
        except psycopg.Error:  # progress is best effort; the import itself is unaffected
            logger.warning("could not report progress of tape import %s", self.import_id)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _chunks_checked(path: Path, progress: _Progress) -> Iterator[bytes]:
    """Yield the file's bytes after the header line, checking UTF-8 and counting lines."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        first = True
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            if first:
                if chunk.startswith(codecs.BOM_UTF8):
                    chunk = chunk[len(codecs.BOM_UTF8) :]
                first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_line = line + chunk.count(b"\n", 0, exc.start)
                raise TapeRejected(
                    [
                        _error(
                            bad_line,
                            None,
                            "invalid_encoding",
                            f"line {bad_line} is not valid UTF-8",
                        )
                    ]
                ) from exc
            newlines = chunk.count(b"\n")
            line += newlines
            progress.add(newlines)
            yield chunk
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise TapeRejected(
                [
                    _error(
                        line,
                        None,
                        "invalid_encoding",
                        f"line {line} ends in a truncated UTF-8 sequence",
                    )
                ]
            ) from exc


_COPY_LINE = re.compile(r"line (\d+)")


def _copy_error(exc: psycopg.Error, width: int) -> TapeRejected:
    context = getattr(exc.diag, "context", None) or ""
    match = _COPY_LINE.search(context)
    line = int(match.group(1)) if match else 0
    message = (exc.diag.message_primary or str(exc)).strip()
    if "extra data" in message or "missing data" in message:
        message = f"row does not have the {width} columns of the header ({message})"
    if "invalid byte sequence" in message:
        return TapeRejected([_error(line, None, "invalid_encoding", message)])
    return TapeRejected([_error(line, None, "invalid_value", message)])


# --------------------------------------------------------------------------- SQL


def _hmac_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys, so the digest is computed in SQL exactly as
    ``hmac.new(key, msg, sha256)`` computes it (tests check equality)."""
    key = borrower_hash_key()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def borrower_hash_key() -> bytes:
    configured = getattr(settings, "BORROWER_HASH_KEY", "")
    if configured:
        return configured.encode()
    return hashlib.sha256(b"borrower-hash-key:" + settings.SECRET_KEY.encode()).digest()


def borrower_hash(borrower_id: str) -> str:
    return hmac.new(borrower_hash_key(), borrower_id.encode(), hashlib.sha256).hexdigest()


def _cell(positions: dict[str, int], name: str, alias: str = "") -> str:
    if name not in positions:
        return "NULL::text"
    return f"NULLIF(btrim({alias}c{positions[name]}), '')"


def _checks_sql(positions: dict[str, int], package: Package) -> list[tuple[str, str]]:
    """(column name, SQL CASE yielding 'code|message' or NULL) for each column present.

    The WHENs follow the column's rules in order, so a cell reports its first broken rule and
    casts in later rules only ever see cells whose format was already checked.
    """
    cut_off = f"DATE '{package.cut_off_date.isoformat()}'"  # a date: safe as a literal
    package_currency = f"'{package.currency}'"  # constrained to [A-Z]{3}
    out = []
    for column in tape_format.COLUMNS:
        if column.name not in positions:
            continue
        value = _cell(positions, column.name)
        whens = [] if column.required else [f"WHEN {value} IS NULL THEN NULL"]
        for condition, code, message in column.rules():
            sql = re.sub(
                r"\{ok:(\w+)\}", lambda m: _valid_date_sql(positions, m.group(1)), condition
            )
            sql = re.sub(r"\{col:(\w+)\}", lambda m: _cell(positions, m.group(1)), sql)
            sql = sql.replace("{cut_off}", cut_off)
            sql = sql.replace("{package_currency}", package_currency)
            sql = sql.replace("{v}", value)
            text = message.replace("'", "''")
            whens.append(f"WHEN {sql} THEN '{code}|{text}'")
        out.append((column.name, f"CASE {' '.join(whens)} END"))
    return out


def _valid_date_sql(positions: dict[str, int], name: str) -> str:
    return tape_format.date_ok(_cell(positions, name))


def _column_order(name: str | None) -> int:
    names = [c.name for c in tape_format.COLUMNS]
    return names.index(name) if name in names else -1


def _insert_sql(positions: dict[str, int], package: Package, tape: LoanTapeImport) -> str:
    def v(name: str) -> str:
        return _typed_value(positions, name)

    fees = f"COALESCE({v('fees_and_penalties')}, 0)"
    return f"""
        INSERT INTO listings_loan (
            package_id, tape_import_id, loan_id, borrower_hash, product_type, currency,
            origination_date, default_date, outstanding_principal, accrued_interest,
            fees_and_penalties, balance, days_past_due, last_payment_date, last_payment_amount,
            interest_rate, borrower_age, region, legal_status, classification, written_off
        )
        SELECT {package.pk}, {tape.pk}, loan_id,
            encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea
                || convert_to(borrower_id, 'UTF8'))), 'hex'),
            product_type, currency, origination_date, {v("default_date")},
            outstanding_principal, accrued_interest, {fees},
            outstanding_principal + accrued_interest + {fees}, days_past_due,
            {v("last_payment_date")}, {v("last_payment_amount")}, {v("interest_rate")},
            {v("borrower_age")}, region, legal_status, COALESCE({v("classification")}, ''),
            {v("written_off")}
        FROM tape_rows
    """  # noqa: S608  (column names come from the fixed format, values are parameters)


# --------------------------------------------------------------------------- the import


class _Clock:
    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def log(self) -> None:
        logger.info("tape import %s phases (s): %s", self.import_id, self.laps)


def _copy_file(table: str, names: str, options: str, csv_path: Path, progress: _Progress) -> None:
    progress.rows = 0
    with (
        connection.cursor() as copy_cursor,
        copy_cursor.copy(
            f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true{options})"
        ) as copy,
    ):
        for chunk in _chunks_checked(csv_path, progress):
            copy.write(chunk)


def _typed_columns(header: list[str], positions: dict[str, int]) -> list[tuple[str, str]]:
    by_position = {index: name for name, index in positions.items()}
    out = []
    for index in range(len(header)):
        name = by_position.get(index)
        if name is None:
            out.append((f"x{index}", "text"))  # an unknown column: loaded, then ignored
        else:
            out.append((name, tape_format.SQL_TYPES[tape_format.COLUMNS_BY_NAME[name].kind]))
    return out


def _load_typed(cursor, header, positions, csv_path: Path, progress: _Progress) -> bool:
    """COPY into typed columns; False when PostgreSQL's parsers refused a value."""
    columns = _typed_columns(header, positions)
    definition = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    cursor.execute(
        f"CREATE TEMP TABLE tape_rows (line bigint GENERATED ALWAYS AS IDENTITY, {definition})"
        " ON COMMIT DROP"
    )
    text_columns = [name for name, sql_type in columns if sql_type == "text"]
    force_null = f", FORCE_NULL ({', '.join(text_columns)})" if text_columns else ""
    names = ", ".join(name for name, _ in columns)
    try:
        with transaction.atomic():  # a savepoint: a refused value rolls back only this COPY
            _copy_file("tape_rows", names, force_null, csv_path, progress)
    except DataError:
        cursor.execute("DROP TABLE IF EXISTS tape_rows")
        return False
    return True


def _typed_value(positions: dict[str, int], name: str) -> str:
    return name if name in positions else "NULL"


def _validate_typed(cursor, positions: dict[str, int], package: Package) -> None:
    """Business rules the typed COPY does not enforce, in one scan; every error reported."""
    cut_off = f"DATE '{package.cut_off_date.isoformat()}'"
    package_currency = f"'{package.currency}'"
    checks = []
    for column in tape_format.COLUMNS:
        if column.name not in positions:
            continue
        whens = [] if column.required else [f"WHEN {column.name} IS NULL THEN NULL"]
        for condition, code, message in tape_format.typed_rules(column):
            sql = re.sub(r"\{col:(\w+)\}", lambda m: _typed_value(positions, m.group(1)), condition)
            sql = sql.replace("{cut_off}", cut_off).replace("{package_currency}", package_currency)
            sql = sql.replace("{v}", column.name)
            whens.append(f"WHEN {sql} THEN '{code}|{message.replace(chr(39), chr(39) * 2)}'")
        if whens:
            checks.append((column.name, f"CASE {' '.join(whens)} END"))
    _collect_errors(cursor, "tape_rows", checks, "loan_id", "loan_id")


def _collect_errors(
    cursor, table: str, checks: list[tuple[str, str]], loan_id: str, s_loan_id: str
) -> None:
    """Run the per-cell checks and the duplicate-id check; raise TapeRejected on any error."""
    errors: list[dict] = []
    total = 0
    if checks:
        array = ", ".join(sql for _, sql in checks)
        where = " OR ".join(f"({sql}) IS NOT NULL" for _, sql in checks)
        cursor.execute(
            f"SELECT line, ARRAY[{array}] FROM {table} WHERE {where} ORDER BY line"  # noqa: S608
        )
        names = [name for name, _ in checks]
        while rows := cursor.fetchmany(5000):
            for line, cells in rows:
                for name, cell in zip(names, cells, strict=True):
                    if cell is None:
                        continue
                    total += 1
                    if len(errors) < MAX_ERRORS_KEPT:
                        code, _, message = cell.partition("|")
                        errors.append(_error(line + 1, name, code, message))
    # Duplicate loan ids: every occurrence after the first is an error.
    cursor.execute(
        f"""
        WITH dup AS (
            SELECT {loan_id} AS v FROM {table} WHERE {loan_id} IS NOT NULL
            GROUP BY 1 HAVING count(*) > 1
        )
        SELECT line, v FROM (
            SELECT s.line, d.v, row_number() OVER (PARTITION BY d.v ORDER BY s.line) AS n
            FROM {table} s JOIN dup d ON {s_loan_id} = d.v
        ) t WHERE n > 1 ORDER BY line
        """  # noqa: S608
    )
    for line, value in cursor.fetchall():
        total += 1
        errors.append(
            _error(
                line + 1,
                "loan_id",
                "duplicate_loan_id",
                f"loan_id {value!r} appears more than once",
            )
        )
    if total:
        errors.sort(key=lambda e: (e["line"], _column_order(e["column"])))
        raise TapeRejected(errors[:MAX_ERRORS_KEPT], total)


def _locate_errors(cursor, header, positions, package, csv_path: Path, progress) -> None:
    """Slow path, after the typed COPY refused a value: load every cell as text and check every
    rule in SQL, to report each error with its line and column. Always raises TapeRejected."""
    width = len(header)
    columns = ", ".join(f"c{i} text" for i in range(width))
    cursor.execute(
        f"CREATE TEMP TABLE tape_staging (line bigint GENERATED ALWAYS AS IDENTITY, {columns})"
        " ON COMMIT DROP"
    )
    names = ", ".join(f"c{i}" for i in range(width))
    try:
        _copy_file("tape_staging", names, "", csv_path, progress)
    except DataError as exc:
        raise _copy_error(exc.__cause__ or exc, width) from exc
    checks = _checks_sql(positions, package)
    _collect_errors(
        cursor,
        "tape_staging",
        checks,
        _cell(positions, "loan_id"),
        _cell(positions, "loan_id", alias="s."),
    )
    # The text rules found nothing the typed parsers refused (should not happen): report the
    # parser's own words rather than accept the tape.
    raise TapeRejected(
        [_error(0, None, "invalid_value", "a value could not be read; check numbers and dates")]
    )


def _load(tape: LoanTapeImport, csv_path: Path, progress: _Progress) -> int:
    """Runs inside the import transaction; returns the number of loans loaded."""
    package = Package.objects.select_for_update().get(pk=tape.package_id)
    if package.status != PackageStatus.DRAFT:
        raise InvalidState(f"package is {package.status}; tapes load only into drafts")
    if package.latest_tape_id != tape.pk:
        raise InvalidState("a newer loan tape was uploaded for this package")

    with open(csv_path, "rb") as handle:
        header_bytes = handle.readline()
    if not header_bytes.strip(b"\r\n\xef\xbb\xbf \t"):
        raise TapeRejected([_error(1, None, "empty_tape", "the tape is empty")])
    header = next(csv.reader(io.StringIO(_decode_header(header_bytes))))
    positions = check_header(header)

    clock = _Clock(tape.pk)
    with connection.cursor() as cursor:
        # Dates are YYYY-MM-DD; never read a day-first or month-first date by accident.
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        if not _load_typed(cursor, header, positions, csv_path, progress):
            clock.lap("copy_typed_refused")
            _locate_errors(cursor, header, positions, package, csv_path, progress)
        clock.lap("copy")
        cursor.execute("SELECT count(*) FROM tape_rows")
        (rows,) = cursor.fetchone()
        tape.rows_total = rows
        progress.rows = rows
        progress.flush()
        if rows == 0:
            raise TapeRejected([_error(2, None, "empty_tape", "the tape has no loan rows")])
        _validate_typed(cursor, positions, package)
        clock.lap("validate")

        ipad, opad = _hmac_pads()
        cursor.execute(_insert_sql(positions, package, tape), {"ipad": ipad, "opad": opad})
        clock.lap("insert")
        cursor.execute(
            "DELETE FROM listings_loan WHERE package_id = %s AND tape_import_id <> %s",
            [package.pk, tape.pk],
        )
        clock.lap("delete_previous")
    disclosure.package_compute_disclosure(package=package, tape=tape)
    clock.lap("disclosure")
    package.current_tape = tape
    package.save()
    clock.log()
    return rows


def loan_tape_process(*, import_id: int) -> LoanTapeImport:
    """Validate and load one uploaded tape. Idempotent: a finished import is left as it is, and
    an import interrupted by a crash (status processing, nothing committed) runs again.

    Locks: the import row while claiming it; then, in the import transaction, the package row
    (so submit/withdraw/new uploads wait for the load to finish, and a superseded import fails).
    """
    with transaction.atomic():
        tape = LoanTapeImport.objects.select_for_update().get(pk=import_id)
        if tape.status in (TapeStatus.SUCCEEDED, TapeStatus.FAILED):
            return tape
        tape.status = TapeStatus.PROCESSING
        tape.started_at = timezone.now()
        tape.rows_processed = 0
        tape.save(update_fields=["status", "started_at", "rows_processed"])

    stored = Path(tape.stored_path)
    converted: Path | None = None
    progress = _Progress(tape.pk)
    try:
        csv_path = stored
        if tape.file_type == "xlsx":
            converted = stored.with_suffix(".converted.csv")
            xlsx_to_csv(stored, converted)
            csv_path = converted
        with transaction.atomic():
            # One worker per import at a time: a redelivered or swept duplicate backs off.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"loan_tape_import:{tape.pk}"],
                )
                (mine,) = cursor.fetchone()
            if not mine:
                return tape
            tape.refresh_from_db()
            if tape.status != TapeStatus.PROCESSING:
                return tape
            rows = _load(tape, csv_path, progress)
            tape.status = TapeStatus.SUCCEEDED
            tape.rows_processed = rows
            tape.error_count = 0
            tape.errors = []
            tape.finished_at = timezone.now()
            tape.save()
            record(
                action="loan_tape.imported",
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
    except TapeRejected as exc:
        _fail(tape, exc.errors, exc.total, rows_read=progress.rows)
    except DomainError as exc:
        _fail(tape, [_error(0, None, exc.code, exc.detail)], 1, rows_read=progress.rows)
    finally:
        progress.close()
        if converted is not None:
            converted.unlink(missing_ok=True)
    tape.refresh_from_db()
    return tape


def _fail(tape: LoanTapeImport, errors: list[dict], total: int, rows_read: int) -> None:
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
            action="loan_tape.failed",
            object_type="package",
            object_id=tape.package_id,
            actor=tape.uploaded_by,
            data={
                "import_id": tape.pk,
                "error_count": total,
                "codes": sorted({e["code"] for e in errors}),
            },
        )


def new_upload_path(file_type: str) -> Path:
    return uploads_dir() / f"{uuid.uuid4().hex}.{file_type}"


def remove_upload(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
