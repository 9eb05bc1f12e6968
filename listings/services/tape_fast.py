"""The import's fast path for a clean tape: checked and hashed in this process, COPYed typed.

A clean tape (every loan tape a bank exports from its core system should be) is read with
Arrow's multi-threaded CSV reader in blocks of 1 MiB, each block checked by vectorised
kernels against rules at least as strict as the format's, borrower ids turned into their
HMAC-SHA256 here, every value converted to its column's type by Arrow, and the block sent in
PostgreSQL's binary COPY format (encoded by ``pgpq``) straight into ``COPY listings_loan``, so
the database parses no text. A writer thread feeds PostgreSQL while the next block is
checked, so this process and the database backend work on the two sides at once, and the
rows never pass through a staging table or a per-row SQL expression.

The fast path decides nothing on its own: anything it does not accept outright (a cell
outside its stricter rules, a malformed row, invalid UTF-8, a value Arrow's conversion refuses
such as 2019-02-30, one PostgreSQL refuses such as a NUL character, a duplicate loan id caught
by the unique index) is a *miss*. The caller then rolls the attempt back and runs the SQL path
of ``tape_import``, which is the one place that decides and reports every error with its line
and column. Its rules may therefore
be stricter than the format (a cell with surrounding spaces, ``TRUE``, ``1.`` all miss) but
never more lenient; tests run every tape of the suite through both.
"""

from __future__ import annotations

import hashlib
import io
import queue
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg.copy import QueuedLibpqWriter

from listings import tape_format

WRITER_QUEUE = 64  # pieces of at most 128 KiB waiting for the connection: 8 MiB at most
BLOCK = 1 << 20  # bytes of CSV per Arrow block (~6,500 rows); Arrow reads a few ahead
MONEY = pa.decimal128(18, 2)  # numeric(18, 2)

# The loan table's columns a tape fills, in the order both paths write them, with the Arrow
# type of each (binary COPY takes exactly the column's type; each block is cast to these).
LOAN_SCHEMA = pa.schema(
    [
        ("package_id", pa.int64()),
        ("tape_import_id", pa.int64()),
        ("loan_id", pa.string()),
        ("borrower_hash", pa.string()),
        ("product_type", pa.string()),
        ("currency", pa.string()),
        ("origination_date", pa.date32()),
        ("default_date", pa.date32()),
        ("outstanding_principal", MONEY),
        ("accrued_interest", MONEY),
        ("fees_and_penalties", MONEY),
        ("balance", MONEY),
        ("days_past_due", pa.int32()),
        ("last_payment_date", pa.date32()),
        ("last_payment_amount", MONEY),
        ("interest_rate", pa.decimal128(9, 4)),
        ("borrower_age", pa.int16()),
        ("region", pa.string()),
        ("legal_status", pa.string()),
        ("classification", pa.string()),
        ("written_off", pa.bool_()),
    ]
)
LOAN_COLUMNS = tuple(LOAN_SCHEMA.names)

# Cell patterns (RE2, anchored) that imply the format's rule for the kind; stricter is allowed.
_PATTERNS = {
    "decimal": r"^[0-9]{1,16}(\.[0-9]{1,2})?$",  # < 1e16, at most 2 places, no sign/exponent
    "rate": r"^[0-9]{1,5}(\.[0-9]{1,4})?$",  # < 1e5, at most 4 places
    "integer": r"^[0-9]{1,9}$",  # fits an integer column
    # Years 1000-2999; Arrow's conversion then refuses a day the month does not have, as
    # PostgreSQL does (both use the proleptic Gregorian calendar; they differ on year 0).
    "date": r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    "age": r"^(1[89]|[2-9][0-9]|100)$",  # borrower_age 18..100
}


class _BoundedWriter(QueuedLibpqWriter):
    """psycopg's queued writer (a thread sends while this one prepares the next block) with a
    short queue: when PostgreSQL is the slower side, this process waits instead of buffering
    the rest of the tape in memory (psycopg queues up to 1024 pieces of 128 KiB)."""

    def __init__(self, cursor) -> None:
        super().__init__(cursor)
        self._queue = queue.Queue(maxsize=WRITER_QUEUE)


class Miss(Exception):
    """The fast path does not take this tape; the SQL path decides."""


class _CheckedFile(io.RawIOBase):
    """The upload as Arrow reads it, refusing (as a miss) what Arrow and PostgreSQL's CSV
    parser could read differently: a carriage return that does not end a CRLF line."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115  (closed by close())
        self._pending_cr = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(len(buffer))
        if data:
            if self._pending_cr and not data.startswith(b"\n"):
                raise Miss("carriage return inside a line")
            body = data[:-1] if data.endswith(b"\r") else data
            if body.count(b"\r") != body.count(b"\r\n"):
                raise Miss("carriage return inside a line")
            self._pending_cr = data.endswith(b"\r")
        elif self._pending_cr:
            raise Miss("carriage return at the end of the file")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104): the digest of a message is
    ``sha256(opad + sha256(ipad + message))``, as ``hmac.new(key, message, sha256)`` computes it.
    Used here and by the SQL path, which computes the same digest in PostgreSQL."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _hasher(key: bytes):
    """HMAC-SHA256 with the key's padded inner and outer states prepared once: equal to
    ``hmac.new(key, msg, sha256).hexdigest()`` (tests check) at half its per-call cost."""
    ipad, opad = hmac_pads(key)
    inner = hashlib.sha256(ipad)
    outer = hashlib.sha256(opad)

    def digest_all(values: list[str]) -> list[str]:
        out = []
        append = out.append
        inner_copy, outer_copy = inner.copy, outer.copy
        for value in values:
            h = inner_copy()
            h.update(value.encode())
            o = outer_copy()
            o.update(h.digest())
            append(o.hexdigest())
        return out

    return digest_all


def _rule(column: tape_format.Column, cell: pa.Array, batch_of, package) -> pa.Array:
    """Boolean array: true where the cell passes the column's (strict) rule or is empty and
    optional; null and false both mean a miss."""
    kind = column.kind
    if kind == "text":
        ok = pc.and_(
            pc.less_equal(pc.utf8_length(cell), column.max_length),
            # Untrimmed cells and quote characters go to the SQL path, which trims and
            # which reads quotes as PostgreSQL's CSV parser does.
            pc.invert(
                pc.or_(
                    pc.or_(pc.starts_with(cell, " "), pc.ends_with(cell, " ")),
                    pc.match_substring(cell, '"'),
                )
            ),
        )
    elif kind == "enum":
        ok = pc.is_in(cell, value_set=pa.array(column.choices, pa.string()))
    elif kind == "currency":
        ok = pc.equal(cell, package.currency)
    elif kind == "bool":
        ok = pc.is_in(cell, value_set=pa.array(["true", "false"], pa.string()))
    elif kind == "date":
        # Same-length ISO dates compare as strings exactly as they compare as dates.
        ok = pc.and_(
            pc.match_substring_regex(cell, _PATTERNS["date"]),
            pc.less_equal(cell, package.cut_off_date.isoformat()),
        )
        if column.name == "default_date":
            ok = pc.and_(
                ok, pc.fill_null(pc.greater_equal(cell, batch_of("origination_date")), True)
            )
    elif kind == "integer":
        pattern = _PATTERNS["age" if column.name == "borrower_age" else "integer"]
        ok = pc.match_substring_regex(cell, pattern)
    elif kind in ("decimal", "rate"):
        ok = pc.match_substring_regex(cell, _PATTERNS[kind])
    else:  # a new kind in the format must get a rule here before tapes can take this path
        raise Miss(f"no fast rule for {kind}")
    # An empty cell (null here) passes when the column is optional and misses when required
    # (some kernels answer false rather than null for a null input, so ask the cell).
    return pc.if_else(pc.is_valid(cell), pc.fill_null(ok, False), not column.required)


def _batches(csv_path: Path, positions: dict[str, int], width: int) -> Iterator[pa.RecordBatch]:
    names = [f"c{i}" for i in range(width)]
    wanted = [f"c{positions[c.name]}" for c in tape_format.COLUMNS if c.name in positions]
    source = _CheckedFile(csv_path)
    try:
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(
                block_size=BLOCK, use_threads=True, skip_rows=1, column_names=names
            ),
            # Quoted line breaks are data, and a blank line is a (malformed) row, as they are
            # for PostgreSQL's COPY.
            parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=wanted,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
                check_utf8=True,
            ),
        )
        yield from reader
    except pa.ArrowInvalid as exc:  # malformed row, invalid UTF-8, ...
        raise Miss(str(exc)) from exc
    finally:
        source.close()


def load(
    cursor,
    *,
    csv_path: Path,
    positions: dict[str, int],
    width: int,
    package,
    tape,
    hash_key: bytes,
    progress,
) -> int:
    """COPY the tape into listings_loan if every row passes; returns the rows loaded.

    Raises Miss (or a database error from the COPY) otherwise; the caller runs this inside a
    savepoint and rolls it back before taking the SQL path."""
    digest_all = _hasher(hash_key)
    columns = {c.name: c for c in tape_format.COLUMNS if c.name in positions}
    statement = f"COPY listings_loan ({', '.join(LOAN_COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
    raw_cursor = getattr(cursor, "cursor", cursor)  # psycopg's, under Django's wrapper
    try:
        with raw_cursor.copy(statement, writer=_BoundedWriter(raw_cursor)) as copy:
            rows = _copy_batches(
                copy, csv_path, positions, width, columns, package, tape, digest_all, progress
            )
    except pa.ArrowException as exc:  # a cell Arrow cannot convert (2019-02-30), ...
        raise Miss(str(exc)) from exc
    return rows


def _copy_batches(
    copy, csv_path, positions, width, columns, package, tape, digest_all, progress
) -> int:
    rows = 0
    encoder = ArrowToPostgresBinaryEncoder(LOAN_SCHEMA)
    copy.write(encoder.write_header())
    for batch in _batches(csv_path, positions, width):
        n = batch.num_rows
        if not n:
            continue

        def cell(name: str, batch=batch, n=n) -> pa.Array:
            if name not in positions:
                return pa.nulls(n, pa.string())
            return batch.column(f"c{positions[name]}")

        for column in columns.values():
            ok = _rule(column, cell(column.name), cell, package)
            if not pc.all(ok).as_py():
                raise Miss(f"a {column.name} cell needs the full checks")
        principal = pc.cast(cell("outstanding_principal"), MONEY)
        interest = pc.cast(cell("accrued_interest"), MONEY)
        fees = pc.fill_null(pc.cast(cell("fees_and_penalties"), MONEY), 0)
        # Cells are cast to LOAN_SCHEMA's types here; a value Arrow cannot convert (2019-02-30,
        # a balance too large for its column) raises, which is a miss.
        table = pa.table(
            [
                pa.array([package.pk] * n, pa.int64()),
                pa.array([tape.pk] * n, pa.int64()),
                cell("loan_id"),
                pa.array(digest_all(cell("borrower_id").to_pylist()), pa.string()),
                cell("product_type"),
                cell("currency"),
                cell("origination_date"),
                cell("default_date"),
                principal,
                interest,
                fees,
                pc.add(pc.add(principal, interest), fees),
                cell("days_past_due"),
                cell("last_payment_date"),
                cell("last_payment_amount"),
                cell("interest_rate"),
                cell("borrower_age"),
                cell("region"),
                cell("legal_status"),
                pc.fill_null(cell("classification"), ""),  # empty means unclassified
                cell("written_off"),
            ],
            schema=LOAN_SCHEMA,
        )
        for part in table.to_batches():
            copy.write(encoder.write_batch(part))
        rows += n
        progress.add(n)
    copy.write(encoder.finish())
    return rows
