"""The SQL path: the one place that decides a tape and reports every error.

The tape's CSV is streamed in 1 MiB chunks, checked as UTF-8 on the way (``invalid_encoding``
with its line), into ``COPY`` of an unlogged staging table of text columns. Then one parallel
pass checks every row as written against the strict rules (``format.Column.strict_sql``) and,
when none fails, casts and inserts them. Otherwise the full validation runs every rule of the
format (``format.Column.rules``) over the trimmed cells in one scan, and duplicate loan ids by
one aggregate: any error rejects the tape (every error counted, the first 1000 kept); a tape
valid once trimmed is inserted from the trimmed cells. The borrower id's HMAC is computed in
SQL (``hashing.hmac_sql``). In this path rows never become Python objects.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from django.db import DataError, IntegrityError, connection, transaction

from listings.codes import ErrorCode
from listings.tape import format as tape_format
from listings.tape import hashing
from listings.tape.context import TapeJob
from listings.tape.errors import MAX_ERRORS_KEPT, TapeError, TapeRejected, tape_error
from listings.tape.reading import chunks_checked
from marketplace.common.codes import ErrorCode as CommonCode

BALANCE_TOO_LARGE = (
    "the balance (outstanding_principal + accrued_interest + fees_and_penalties) must be "
    "below 10^16"
)
# A value PostgreSQL's parsers refuse during COPY. ``cursor.copy()`` is not wrapped by Django's
# error translation, so psycopg's own class is raised there, not ``django.db.DataError``.
COPY_DATA_ERRORS = (DataError, psycopg.errors.DataError)
TRIMMED = "tape_cells"  # the view of the staging table's cells, trimmed, NULL when empty
_COPY_LINE = re.compile(r"line (\d+)")


def load(cursor: Any, job: TapeJob) -> int:
    """Stage the cells as text, check every rule in SQL, insert; TapeRejected on any error."""
    staging = f"tape_staging_{int(job.tape.pk)}"
    _load_staging(cursor, job, staging)
    job.lap("copy")
    cursor.execute(f"SELECT count(*) FROM {staging}")  # noqa: S608  (an id, not input)
    rows = int(cursor.fetchone()[0])
    job.rows_counted(rows)  # before any rejection: the failed import reports it
    if rows == 0:
        raise TapeRejected.one(2, ErrorCode.EMPTY_TAPE, "the tape has no loan rows")
    params = hashing.sql_params(job.hash_key)
    # One parallel pass checks every row as written and loads it. Otherwise the full
    # validation reports every error (or, for a tape that is valid once trimmed, passes)
    # and the rows are loaded from the trimmed cells.
    if not _insert_one_pass(cursor, job, rows, params, staging):
        job.lap("one_pass_missed")
        validate(cursor, job)
        job.lap("validate")
        cursor.execute(_insert_sql(job, source=TRIMMED, trimmed=True), params)
    job.lap("insert")
    # Never committed: the staging table (raw borrower ids) goes before the commit; a
    # rollback anywhere above undoes its creation.
    cursor.execute(f"DROP TABLE {staging} CASCADE")
    return rows


# --------------------------------------------------------------------------- staging


def _load_staging(cursor: Any, job: TapeJob, table: str) -> None:
    """COPY every cell as text into the import's staging table. Only a malformed row (cells
    not matching the header, a broken quote) or bad UTF-8 stops it: TapeRejected with the line.

    The table is UNLOGGED (never in the WAL, like a temporary table, so raw borrower ids are not
    either) but not TEMPORARY, because PostgreSQL scans only ordinary tables in parallel, and
    the checks of a million rows run on both cores that way. It exists only inside the import
    transaction: created there, dropped before commit, and undone by any rollback."""
    width = job.width
    columns = ", ".join(f"c{i} text" for i in range(width))
    cursor.execute(
        f"CREATE UNLOGGED TABLE {table} (line bigint GENERATED ALWAYS AS IDENTITY, {columns})"
    )
    names = ", ".join(f"c{i}" for i in range(width))
    job.progress.rows = 0
    try:
        with (
            connection.cursor() as copy_cursor,
            copy_cursor.copy(
                f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            for chunk, newlines in chunks_checked(job.source.csv_path()):
                job.progress.add(newlines)
                copy.write(chunk)
    except COPY_DATA_ERRORS as exc:
        raise _copy_error(exc.__cause__ or exc, width) from exc
    # Each cell trimmed once per row, not once per rule that reads it (OFFSET 0 keeps the
    # planner from inlining the view and repeating the expressions).
    trimmed = ", ".join(f"NULLIF(btrim(c{i}), '') AS c{i}" for i in range(width))
    cursor.execute(
        f"CREATE TEMP VIEW {TRIMMED} AS SELECT line, {trimmed} FROM {table} OFFSET 0"  # noqa: S608  (fixed column names)
    )


def _copy_error(exc: BaseException, width: int) -> TapeRejected:
    diag = getattr(exc, "diag", None)
    match = _COPY_LINE.search(getattr(diag, "context", None) or "")
    line = int(match.group(1)) if match else 0
    message = (getattr(diag, "message_primary", None) or str(exc)).strip()
    if "extra data" in message or "missing data" in message:
        message = f"row does not have the {width} columns of the header ({message})"
    if "invalid byte sequence" in message:
        return TapeRejected.one(line, ErrorCode.INVALID_ENCODING, message)
    return TapeRejected.one(line, CommonCode.INVALID_VALUE, message)


# --------------------------------------------------------------------------- one pass


class _OnePassMiss(Exception):
    pass


def _insert_one_pass(
    cursor: Any, job: TapeJob, rows: int, params: dict[str, bytes], table: str
) -> bool:
    """Try the common case; True when every row went in, else nothing did.

    First one parallel scan counts the rows the strict checks refuse (a cast error counts as a
    refusal); only if there are none are the cells cast and inserted."""
    row = job.sql_row()
    strict = " AND ".join(column.strict_sql(row) for column in job.columns) or "true"
    try:
        with transaction.atomic():  # a savepoint: a miss rolls back only this attempt
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE NOT COALESCE({strict}, false)"  # noqa: S608  (generated from the fixed format)
            )
            if cursor.fetchone()[0]:
                raise _OnePassMiss()
            cursor.execute(_insert_sql(job, source=table, trimmed=False), params)
            if cursor.rowcount != rows:
                raise _OnePassMiss()
    except (_OnePassMiss, DataError, IntegrityError, psycopg.errors.DataError):
        return False
    return True


def _insert_sql(job: TapeJob, *, source: str, trimmed: bool) -> str:
    """INSERT ... SELECT of every row of ``source``: the trimmed, validated cells, or the
    staging table (cells as written, already checked by the strict rules)."""
    row = job.sql_row()
    values = {"package_id": str(job.package.pk), "tape_import_id": str(job.tape.pk)}
    for column in tape_format.COLUMNS:
        cell = row.cell(column.name) or "NULL::text"
        if column.default is not None:
            cell = f"COALESCE({cell}, '{column.default}')"
        value = column.kind.cast_sql(cell, trimmed=trimmed)
        values[column.stored_name] = hashing.hmac_sql(value) if column.hashed else value
    values["balance"] = " + ".join(values[name] for name in tape_format.BALANCE_PARTS)
    return f"""
        INSERT INTO listings_loan ({", ".join(tape_format.LOAN_COLUMNS)})
        SELECT {", ".join(values[name] for name in tape_format.LOAN_COLUMNS)}
        FROM {source}
    """  # noqa: S608  (column names come from the fixed format, values are parameters)


# --------------------------------------------------------------------------- validation


def validate(cursor: Any, job: TapeJob) -> None:
    """Every rule of the format on the trimmed cells, in one scan, plus duplicate loan ids;
    TapeRejected with every error (sorted by line and column) when there is any.

    The cells are checked as written, not as PostgreSQL's parsers would read them: those also
    accept ``20191231``, ``Dec 31 2019``, ``1e3``, ``1_000`` or ``yes``, which the format does not.
    """
    checks = _checks_sql(job)
    errors: list[TapeError] = []
    total = _cell_errors(cursor, checks, errors)
    total += _balance_errors(cursor, job, dict(checks), errors)
    total += _duplicate_errors(cursor, job, errors)
    if total:
        errors.sort(key=lambda e: (e["line"], tape_format.column_order(e["column"])))
        raise TapeRejected(errors[:MAX_ERRORS_KEPT], total)


def _checks_sql(job: TapeJob) -> list[tuple[str, str]]:
    """(column name, SQL CASE yielding 'code|message' or NULL) for each column present.

    The WHENs follow the column's rules in order, so a cell reports its first broken rule and
    casts in later rules only ever see cells whose format was already checked."""
    row = job.sql_row()
    out = []
    for column in job.columns:
        value = f"c{job.positions[column.name]}"
        whens = [] if column.required else [f"WHEN {value} IS NULL THEN NULL"]
        for rule in column.rules():
            text = rule.message.replace("'", "''")
            whens.append(f"WHEN {rule.condition(value, row)} THEN '{rule.code}|{text}'")
        out.append((column.name, f"CASE {' '.join(whens)} END"))
    return out


def _keep(errors: list[TapeError], error: TapeError) -> None:
    if len(errors) < MAX_ERRORS_KEPT:
        errors.append(error)


def _cell_errors(cursor: Any, checks: list[tuple[str, str]], errors: list[TapeError]) -> int:
    if not checks:
        return 0
    array = ", ".join(sql for _, sql in checks)
    where = " OR ".join(f"({sql}) IS NOT NULL" for _, sql in checks)
    cursor.execute(
        f"SELECT line, ARRAY[{array}] FROM {TRIMMED} WHERE {where} ORDER BY line"  # noqa: S608
    )
    names = [name for name, _ in checks]
    total = 0
    while rows := cursor.fetchmany(5000):
        for line, cells in rows:
            for name, cell in zip(names, cells, strict=True):
                if cell is not None:
                    total += 1
                    code, _, message = cell.partition("|")
                    _keep(errors, tape_error(line + 1, name, code, message))
    return total


def _balance_errors(
    cursor: Any, job: TapeJob, checks: dict[str, str], errors: list[TapeError]
) -> int:
    """Rows whose amounts are each valid but whose balance (their sum) does not fit the loan
    table's money column; NULL-safe, and casts only cells that passed."""
    amounts = [n for n in tape_format.BALANCE_PARTS if n in job.positions]
    if not amounts:
        return 0
    valid = " AND ".join(f"({checks[n]}) IS NULL" for n in amounts)
    total_sql = " + ".join(f"COALESCE(c{job.positions[n]}::numeric, 0)" for n in amounts)
    overflow = f"CASE WHEN {valid} THEN {total_sql} >= {tape_format.BALANCE_LIMIT} ELSE false END"
    cursor.execute(f"SELECT line FROM {TRIMMED} WHERE {overflow} ORDER BY line")  # noqa: S608
    lines = cursor.fetchall()
    for (line,) in lines:
        error = tape_error(
            line + 1, "outstanding_principal", CommonCode.INVALID_VALUE, BALANCE_TOO_LARGE
        )
        _keep(errors, error)
    return len(lines)


def _duplicate_errors(cursor: Any, job: TapeJob, errors: list[TapeError]) -> int:
    """Every occurrence of a loan id after its first is an error (all of them are kept)."""
    loan_id = f"c{job.positions['loan_id']}"
    cursor.execute(
        f"""
        WITH dup AS (
            SELECT {loan_id} AS v FROM {TRIMMED} WHERE {loan_id} IS NOT NULL
            GROUP BY 1 HAVING count(*) > 1
        )
        SELECT line, v FROM (
            SELECT s.line, d.v, row_number() OVER (PARTITION BY d.v ORDER BY s.line) AS n
            FROM {TRIMMED} s JOIN dup d ON s.{loan_id} = d.v
        ) t WHERE n > 1 ORDER BY line
        """  # noqa: S608
    )
    duplicates = cursor.fetchall()
    for line, value in duplicates:
        message = f"loan_id {value!r} appears more than once"
        errors.append(tape_error(line + 1, "loan_id", ErrorCode.DUPLICATE_LOAN_ID, message))
    return len(duplicates)
