"""The import's fast path for a clean tape: checked and hashed in this process, COPYed typed.

A clean tape (every loan tape a bank exports from its core system should be) arrives as Arrow
blocks of text cells (``reading``: a CSV in 1 MiB blocks, an XLSX sheet from fastexcel). Each
block is checked by the format's Arrow rules (``format.Column.arrow_ok``, at least as strict
as the format), borrower ids turned into their HMAC here (``hashing``), every value cast by
Arrow to its loan column's type, and the block sent in PostgreSQL's binary COPY format
(encoded by ``pgpq``) straight into ``COPY listings_loan``, so the database parses no text. A
writer thread feeds PostgreSQL while the next block is checked, so this process and the
database backend work on the two sides at once, and the rows never pass through a staging
table or a per-row SQL expression.

The fast path decides nothing on its own: anything it does not accept outright (a cell
outside its stricter rules, a malformed row, invalid UTF-8, a value Arrow's conversion refuses
such as 2019-02-30, one PostgreSQL refuses such as a NUL character, a duplicate loan id caught
by the unique index) is a *miss*. The caller then rolls the attempt back and runs the SQL path
(``sql_load``), the one place that decides and reports every error with its line and column.
Its rules may therefore be stricter than the format (a cell with surrounding spaces, ``TRUE``,
``1.`` all miss) but never more lenient; tests run every tape of the suite through both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg.copy import Copy, QueuedLibpqWriter

from listings.tape import format as tape_format
from listings.tape import hashing
from listings.tape.context import TapeJob
from listings.tape.errors import Miss
from listings.tape.kinds import ArrowRow

WRITER_QUEUE = 64  # pieces of at most 128 KiB waiting for the connection: 8 MiB at most


class _BoundedWriter(QueuedLibpqWriter):
    """psycopg's queued writer (a thread sends while this one prepares the next block) with a
    short queue: when PostgreSQL is the slower side, this process waits instead of buffering
    the rest of the tape in memory (psycopg queues up to 1024 pieces of 128 KiB)."""

    def __init__(self, cursor: Any) -> None:
        super().__init__(cursor)
        self._queue.maxsize = WRITER_QUEUE  # psycopg's queue, read on every put()


def load(cursor: Any, job: TapeJob) -> int:
    """COPY the tape into listings_loan if every row passes; returns the rows loaded.

    Raises Miss (or a database error from the COPY) otherwise; the caller runs this inside a
    savepoint and rolls it back before taking the SQL path."""
    columns = ", ".join(tape_format.LOAN_COLUMNS)
    statement = f"COPY listings_loan ({columns}) FROM STDIN WITH (FORMAT binary)"
    raw_cursor = getattr(cursor, "cursor", cursor)  # psycopg's, under Django's wrapper
    try:
        with raw_cursor.copy(statement, writer=_BoundedWriter(raw_cursor)) as copy:
            return _copy_batches(copy, job)
    except pa.ArrowException as exc:  # a cell Arrow cannot convert (2019-02-30), ...
        raise Miss(str(exc)) from exc


def _copy_batches(copy: Copy, job: TapeJob) -> int:
    digest_all = hashing.hasher(job.hash_key)
    encoder = ArrowToPostgresBinaryEncoder(tape_format.LOAN_SCHEMA)
    copy.write(encoder.write_header())
    columns = job.columns
    rows = 0
    for batch in job.source.batches([job.positions[c.name] for c in columns]):
        if not batch.num_rows:
            continue
        row = _arrow_row(batch, job)
        for column in columns:
            if not pc.all(column.arrow_ok(row)).as_py():
                raise Miss(f"a {column.name} cell needs the full checks")
        table = _loan_block(row, batch.num_rows, job, digest_all)
        for part in table.to_batches():
            copy.write(encoder.write_batch(part))
        rows += batch.num_rows
        job.progress.add(batch.num_rows)
    copy.write(encoder.finish())
    return rows


def _arrow_row(batch: pa.RecordBatch, job: TapeJob) -> ArrowRow:
    def cells(name: str) -> pa.Array:
        if name not in job.positions:
            return pa.nulls(batch.num_rows, pa.string())
        return batch.column(f"c{job.positions[name]}")

    return ArrowRow(cells, job.package.cut_off_date, job.package.currency)


def _loan_block(
    row: ArrowRow, n: int, job: TapeJob, digest_all: Callable[[list[str]], list[str]]
) -> pa.Table:
    """The block's loans as LOAN_SCHEMA: each cell cast to its column's type. A value Arrow
    cannot convert (2019-02-30, a balance too large for its column) raises: a miss."""
    values: dict[str, pa.Array] = {
        "package_id": pa.array([job.package.pk] * n, pa.int64()),
        "tape_import_id": pa.array([job.tape.pk] * n, pa.int64()),
    }
    for column in tape_format.COLUMNS:
        cell = row.cells(column.name)
        if column.default is not None:
            cell = pc.fill_null(cell, column.default)
        if column.hashed:
            value = pa.array(digest_all(cell.to_pylist()), pa.string())
        else:
            value = pc.cast(cell, column.arrow_type)
        values[column.stored_name] = value
    balance = values[tape_format.BALANCE_PARTS[0]]
    for part in tape_format.BALANCE_PARTS[1:]:
        balance = pc.add(balance, values[part])
    values["balance"] = pc.cast(balance, tape_format.LOAN_SCHEMA.field("balance").type)
    return pa.table(
        [values[name] for name in tape_format.LOAN_COLUMNS], schema=tape_format.LOAN_SCHEMA
    )
