"""Loan tape upload and import: streamed, validated, loaded with COPY, all or nothing.

Pipeline of one import (``loan_tape_process``, run by a Celery task):

1. XLSX is first converted, row by row, to a CSV file (openpyxl read-only mode).
2. The header is checked in Python: PII columns (``pii_not_allowed``), required columns
   (``missing_column``), duplicates.
3. In one transaction, the fast path first (``tape_fast``): the file is read in blocks by
   Arrow's CSV reader, each block checked by vectorised rules at least as strict as the
   format's, borrower ids hashed (HMAC-SHA256) in this process, and the block typed by Arrow and
   sent in binary COPY format into ``listings_loan`` by a writer thread. A clean tape is loaded
   that way in one pass.
4. Anything the fast path does not take (a stricter rule missed, a malformed row, a value
   Arrow or PostgreSQL refuses, a duplicate loan id) rolls its savepoint back, and the SQL
   path decides: the file is streamed in 1 MiB chunks, checked as UTF-8 on the way
   (``invalid_encoding`` with its line), into ``COPY`` of an unlogged staging table of text
   columns; every rule of the format is checked by SQL over it, and duplicate loan ids by one
   aggregate. Any error: the transaction rolls back, nothing is imported, and the import is
   marked failed with every error counted and the first 1000 kept. Otherwise
   ``INSERT ... SELECT`` casts the rows into ``listings_loan`` with the HMAC computed in SQL.
5. Then the package's previous loans are deleted, the summary and stratification are computed
   in SQL and stored, and the import is marked succeeded, all in that same transaction. A
   failed upload therefore never touches the previous good tape.

Memory stays flat: the file is never held in memory (a few MiB blocks at a time, with bounded
queues), and in the SQL path rows never become Python objects.
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
from decimal import Decimal
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from listings import tape_format
from listings.models import LoanTapeImport, Package, PackageStatus, TapeStatus
from listings.services import disclosure, tape_fast
from marketplace.audit.services import record
from marketplace.common.errors import DomainError, InvalidState
from marketplace.common.locks import try_advisory_xact_lock

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 1000
# Balance = principal + interest + fees is stored in a money column: below 10^16 like each part.
BALANCE_LIMIT = "1e16"
BALANCE_TOO_LARGE = (
    "the balance (outstanding_principal + accrued_interest + fees_and_penalties) must be "
    "below 10^16"
)
TOTAL_TOO_LARGE = "the tape's total balance must be below 10^16, as the package's totals are"
CHUNK = 1 << 20
PROGRESS_EVERY_ROWS = 50_000
XLSX_MAGIC = b"PK\x03\x04"
# A value PostgreSQL's parsers refuse during COPY. ``cursor.copy()`` is not wrapped by Django's
# error translation, so psycopg's own class is raised there, not ``django.db.DataError``.
COPY_DATA_ERRORS = (DataError, psycopg.errors.DataError)
# What PostgreSQL may refuse in the fast path's binary COPY: text it does not store (a NUL
# character), a value outside a column's type, a duplicate loan id (the unique index).
FAST_PATH_DB_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


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


# Files that are surely not a text tape, whatever their name: PNG, PDF, GIF, JPEG, legacy
# Office (OLE2, e.g. .xls), gzip.
BINARY_MAGICS = (b"\x89PNG", b"%PDF-", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0", b"\x1f\x8b")


def detect_file_type(name: str, head: bytes) -> str | None:
    lower = (name or "").lower()
    if lower.endswith(".xlsx") or head.startswith(XLSX_MAGIC):
        return "xlsx" if head.startswith(XLSX_MAGIC) else None
    if head.startswith(BINARY_MAGICS) or b"\0" in head:
        return None  # a NUL byte is never in UTF-8 text (but is in images, UTF-16, ...)
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
    except Exception as exc:  # any parse failure means not a usable XLSX
        raise TapeRejected(
            [_error(1, None, "unsupported_file_type", f"not a readable XLSX workbook: {exc}")]
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        with open(target, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            width = 0  # the header's; rows are padded to it (trailing empty cells are dropped)
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
                    width = width or len(cells)
                    writer.writerow(cells + [""] * (width - len(cells)))
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
    """The borrower hash key's HMAC pads, so the digest is computed in SQL exactly as
    ``hmac.new(key, msg, sha256)`` computes it (tests check equality)."""
    return tape_fast.hmac_pads(borrower_hash_key())


def borrower_hash_key() -> bytes:
    configured = getattr(settings, "BORROWER_HASH_KEY", "")
    if configured:
        return configured.encode()
    return hashlib.sha256(b"borrower-hash-key:" + settings.SECRET_KEY.encode()).digest()


def borrower_hash(borrower_id: str) -> str:
    return hmac.new(borrower_hash_key(), borrower_id.encode(), hashlib.sha256).hexdigest()


def _cell(positions: dict[str, int], name: str, alias: str = "") -> str:
    """A cell of ``tape_cells``: trimmed, NULL when empty or when the column is absent."""
    if name not in positions:
        return "NULL::text"
    return f"{alias}c{positions[name]}"


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


# The SQL type each kind of column is cast to once every cell has passed its rules.
_CASTS = {"date": "::date", "decimal": "::numeric", "rate": "::numeric", "integer": "::integer"}


def _value_sql(positions: dict[str, int], name: str, *, trimmed: bool = True) -> str:
    """A validated cell as its SQL value (NULL when empty or absent): from the trimmed view
    ``tape_cells``, or (``trimmed=False``) from the staging table as written."""
    if name not in positions:
        return "NULL"
    cell = _cell(positions, name) if trimmed else f"c{positions[name]}"
    kind = tape_format.COLUMNS_BY_NAME[name].kind
    if kind == "bool":
        return f"lower({cell})::boolean" if trimmed else f"{cell}::boolean"
    return f"{cell}{_CASTS.get(kind, '')}"


def _insert_sql(
    positions: dict[str, int],
    package: Package,
    tape: LoanTapeImport,
    *,
    source: str = "tape_cells",
    where: str = "true",
) -> str:
    """INSERT ... SELECT of every row of ``source``: ``tape_cells`` (trimmed, validated) or the
    staging table (cells as written, already checked), optionally filtered by ``where``."""

    def v(name: str) -> str:
        return _value_sql(positions, name, trimmed=source == "tape_cells")

    fees = f"COALESCE({v('fees_and_penalties')}, 0)"
    principal, interest = v("outstanding_principal"), v("accrued_interest")
    return f"""
        INSERT INTO listings_loan ({", ".join(tape_fast.LOAN_COLUMNS)})
        SELECT {package.pk}, {tape.pk}, {v("loan_id")},
            encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea
                || convert_to({v("borrower_id")}, 'UTF8'))), 'hex'),
            {v("product_type")}, {v("currency")}, {v("origination_date")}, {v("default_date")},
            {principal}, {interest}, {fees}, {principal} + {interest} + {fees},
            {v("days_past_due")}, {v("last_payment_date")}, {v("last_payment_amount")},
            {v("interest_rate")}, {v("borrower_age")}, {v("region")}, {v("legal_status")},
            COALESCE({v("classification")}, ''), {v("written_off")}
        FROM {source} WHERE {where}
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


def _collect_errors(
    cursor,
    table: str,
    checks: list[tuple[str, str]],
    loan_id: str,
    s_loan_id: str,
    balance_sql: str | None = None,
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
    if balance_sql:  # rows whose cells are valid but whose balance overflows its column
        cursor.execute(
            f"SELECT line FROM {table} WHERE {balance_sql} ORDER BY line"  # noqa: S608
        )
        for (line,) in cursor.fetchall():
            total += 1
            if len(errors) < MAX_ERRORS_KEPT:
                errors.append(
                    _error(line + 1, "outstanding_principal", "invalid_value", BALANCE_TOO_LARGE)
                )
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


def _staging_table(tape: LoanTapeImport) -> str:
    return f"tape_staging_{int(tape.pk)}"


def _load_staging(
    cursor, header: list[str], csv_path: Path, progress: _Progress, table: str
) -> None:
    """COPY every cell as text into the import's staging table. Only a malformed row (cells
    not matching the header, a broken quote) or bad UTF-8 stops it: TapeRejected with the line.

    The table is UNLOGGED (never in the WAL, like a temporary table, so raw borrower ids are not
    either) but not TEMPORARY, because PostgreSQL scans only ordinary tables in parallel, and
    the checks of a million rows run on both cores that way. It exists only inside the import
    transaction: created there, dropped before commit, and undone by any rollback."""
    width = len(header)
    columns = ", ".join(f"c{i} text" for i in range(width))
    cursor.execute(
        f"CREATE UNLOGGED TABLE {table} (line bigint GENERATED ALWAYS AS IDENTITY, {columns})"
    )
    names = ", ".join(f"c{i}" for i in range(width))
    try:
        _copy_file(table, names, "", csv_path, progress)
    except COPY_DATA_ERRORS as exc:
        raise _copy_error(exc.__cause__ or exc, width) from exc
    # Each cell trimmed once per row, not once per rule that reads it (OFFSET 0 keeps the
    # planner from inlining the view and repeating the expressions).
    trimmed = ", ".join(f"NULLIF(btrim(c{i}), '') AS c{i}" for i in range(width))
    cursor.execute(
        f"CREATE TEMP VIEW tape_cells AS SELECT line, {trimmed} FROM {table} OFFSET 0"  # noqa: S608  (fixed column names)
    )


def _validate(cursor, positions: dict[str, int], package: Package) -> None:
    """Every rule of the format on the text cells, in one scan, plus duplicate loan ids.

    The cells are checked as written, not as PostgreSQL's parsers would read them: those also
    accept ``20191231``, ``Dec 31 2019``, ``1e3``, ``1_000`` or ``yes``, which the format does not.
    """
    checks = _checks_sql(positions, package)
    _collect_errors(
        cursor,
        "tape_cells",
        checks,
        _cell(positions, "loan_id"),
        _cell(positions, "loan_id", alias="s."),
        _balance_overflow_sql(positions, dict(checks)),
    )


def _balance_overflow_sql(positions: dict[str, int], checks: dict[str, str]) -> str | None:
    """SQL true for a row whose amounts are each valid but whose balance (their sum) does not
    fit the loan table's money column; NULL-safe, and casts only cells that passed."""
    amounts = [
        n
        for n in ("outstanding_principal", "accrued_interest", "fees_and_penalties")
        if n in positions
    ]
    if not amounts:
        return None
    valid = " AND ".join(f"({checks[n]}) IS NULL" for n in amounts)
    total = " + ".join(f"COALESCE({_cell(positions, n)}::numeric, 0)" for n in amounts)
    return f"CASE WHEN {valid} THEN {total} >= {BALANCE_LIMIT} ELSE false END"


def _fast_checks(positions: dict[str, int], package: Package) -> str:
    """A WHERE clause true exactly for rows that pass every rule, on the cells as written.

    Built from cheap string tests (no regular expressions) and casts; it may be stricter than
    the format (a cell with surrounding spaces, or ``TRUE``, fails it) but never more lenient.
    A row failing it, or a cast raising on it, only sends the import to the full validation,
    which decides and reports."""
    cut_off = f"DATE '{package.cut_off_date.isoformat()}'"
    parts: list[str] = []

    def raw(name: str) -> str:
        return f"c{positions[name]}"

    def integer_part(c: str) -> str:
        return f"(CASE WHEN strpos({c}, '.') = 0 THEN length({c}) ELSE strpos({c}, '.') - 1 END)"

    for column in tape_format.COLUMNS:
        if column.name not in positions:
            continue
        c = raw(column.name)
        if column.kind == "text":
            test = f"({c} <> '' AND length({c}) <= {column.max_length} AND btrim({c}) = {c})"
        elif column.kind == "enum":
            test = f"({c} = ANY(ARRAY[{', '.join(repr(v) for v in column.choices)}]))"
        elif column.kind == "currency":
            test = f"({c} = '{package.currency}')"
        elif column.kind in ("decimal", "rate"):
            places, digits = (2, 16) if column.kind == "decimal" else (4, 5)
            test = (
                f"(left({c}, 1) BETWEEN '0' AND '9' AND ltrim({c}, '0123456789.') = '' "
                f"AND length({c}) - length(replace({c}, '.', '')) <= 1 "
                f"AND (strpos({c}, '.') = 0 OR length({c}) - strpos({c}, '.') "
                f"BETWEEN 1 AND {places}) AND {integer_part(c)} <= {digits})"
            )
        elif column.kind == "integer":
            test = f"({c} <> '' AND ltrim({c}, '0123456789') = '' AND length({c}) <= 9)"
            if column.name == "borrower_age":
                test = f"({test} AND {c}::integer BETWEEN 18 AND 100)"
        elif column.kind == "date":
            test = (
                f"(length({c}) = 10 AND substr({c}, 5, 1) = '-' AND substr({c}, 8, 1) = '-' "
                f"AND ltrim({c}, '0123456789-') = '' AND {c}::date <= {cut_off})"
            )
            if column.name == "default_date" and "origination_date" in positions:
                test = f"({test} AND {c}::date >= {raw('origination_date')}::date)"
        elif column.kind == "bool":
            test = f"({c} IN ('true', 'false'))"
        else:
            raise AssertionError(column.kind)
        parts.append(test if column.required else f"({c} IS NULL OR {test})")
    return " AND ".join(parts) or "true"


def _insert_one_pass(cursor, positions, package, tape, rows: int, pads: dict, table: str) -> bool:
    """Try the common case; True when every row went in, else nothing did.

    First one parallel scan counts the rows the strict checks refuse (a cast error counts as a
    refusal); only if there are none are the cells cast and inserted."""
    try:
        with transaction.atomic():  # a savepoint: a miss rolls back only this attempt
            cursor.execute(
                f"SELECT count(*) FROM {table} "  # noqa: S608  (generated from the fixed format)
                f"WHERE NOT COALESCE({_fast_checks(positions, package)}, false)"
            )
            if cursor.fetchone()[0]:
                raise _OnePassMiss()
            cursor.execute(_insert_sql(positions, package, tape, source=table), pads)
            if cursor.rowcount != rows:
                raise _OnePassMiss()
    except (_OnePassMiss, DataError, IntegrityError, psycopg.errors.DataError):
        return False
    return True


class _OnePassMiss(Exception):
    pass


def _rows_counted(tape: LoanTapeImport, progress: _Progress, rows: int) -> None:
    """The tape's row count is known: on the import (saved with its outcome) and as progress."""
    tape.rows_total = rows
    progress.rows = rows
    progress.flush()


def _load_fast(cursor, tape, package, header, positions, csv_path, progress) -> int | None:
    """The rows loaded by the fast path, or None when it misses (nothing of it remains)."""
    try:
        with transaction.atomic():  # a savepoint: a miss rolls back only this attempt
            rows = tape_fast.load(
                cursor,
                csv_path=csv_path,
                positions=positions,
                width=len(header),
                package=package,
                tape=tape,
                hash_key=borrower_hash_key(),
                progress=progress,
            )
            if not rows:  # an empty tape is reported by the SQL path
                raise tape_fast.Miss("no rows")
    except (tape_fast.Miss, DataError, IntegrityError, *FAST_PATH_DB_ERRORS) as exc:
        logger.info("tape import %s takes the SQL path: %s", tape.pk, str(exc)[:200])
        return None
    return rows


def _load_sql(cursor, tape, package, header, positions, csv_path, progress, clock) -> int:
    """Stage the cells as text, check every rule in SQL, insert; TapeRejected on any error."""
    staging = _staging_table(tape)
    _load_staging(cursor, header, csv_path, progress, staging)
    clock.lap("copy")
    cursor.execute(f"SELECT count(*) FROM {staging}")  # noqa: S608  (an id, not input)
    (rows,) = cursor.fetchone()
    _rows_counted(tape, progress, rows)  # before any rejection: the failed import reports it
    if rows == 0:
        raise TapeRejected([_error(2, None, "empty_tape", "the tape has no loan rows")])
    ipad, opad = _hmac_pads()
    pads = {"ipad": ipad, "opad": opad}
    # One parallel pass checks every row as written and loads it. Otherwise the full
    # validation reports every error (or, for a tape that is valid once trimmed, passes)
    # and the rows are loaded from the trimmed cells.
    if not _insert_one_pass(cursor, positions, package, tape, rows, pads, staging):
        clock.lap("one_pass_missed")
        _validate(cursor, positions, package)
        clock.lap("validate")
        cursor.execute(_insert_sql(positions, package, tape), pads)
    clock.lap("insert")
    # Never committed: the staging table (raw borrower ids) goes before the commit; a
    # rollback anywhere above undoes its creation.
    cursor.execute(f"DROP TABLE {staging} CASCADE")
    return rows


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
        # Aggregates over a million rows (duplicates, disclosure) hash in memory, not on disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Common case: a clean tape is checked and hashed in this process and COPYed typed
        # into the loan table in one pass. Anything else goes to the SQL path, which decides
        # and reports every error.
        rows = _load_fast(cursor, tape, package, header, positions, csv_path, progress)
        if rows is None:
            clock.lap("fast_path_missed")
            rows = _load_sql(cursor, tape, package, header, positions, csv_path, progress, clock)
        else:
            clock.lap("fast_load")
            _rows_counted(tape, progress, rows)
        if package.current_tape_id is not None:  # the previous good tape's loans go now
            cursor.execute(
                "DELETE FROM listings_loan WHERE tape_import_id = %s", [package.current_tape_id]
            )
        clock.lap("delete_previous")
    disclosure.package_compute_disclosure(package=package, tape=tape)
    clock.lap("disclosure")
    if package.total_balance >= Decimal(BALANCE_LIMIT):  # every total is at most this one
        raise TapeRejected([_error(0, None, "invalid_value", TOTAL_TOO_LARGE)])
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
            if not try_advisory_xact_lock(f"loan_tape_import:{tape.pk}"):
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
    if tape.status in (TapeStatus.SUCCEEDED, TapeStatus.FAILED):
        # The uploaded file holds raw borrower ids: once the outcome is recorded it has no use
        # left, so it goes (after commit; an import interrupted before that keeps it to rerun).
        stored_path = tape.stored_path
        transaction.on_commit(lambda: remove_upload(stored_path))
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
