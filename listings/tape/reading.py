"""Reading an uploaded tape: what file it is, its header, and its cells as Arrow blocks.

A tape is a :class:`TapeSource`: its header, its rows as Arrow blocks of text cells (columns
``c<position>``) for the fast path, and a CSV file for the SQL path. A CSV tape is read by
Arrow's multi-threaded CSV reader in 1 MiB blocks straight from the upload; an XLSX tape by
fastexcel (``xlsx``), written out as CSV only when the SQL path needs it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pcsv
from django.conf import settings

from listings.codes import ErrorCode
from listings.tape import format as tape_format
from listings.tape.errors import Miss, TapeError, TapeRejected, tape_error
from listings.tape.xlsx import XlsxTape
from marketplace.common.codes import ErrorCode as CommonCode

BLOCK = 1 << 20  # bytes of CSV per Arrow block (~6,500 rows); Arrow reads a few ahead
XLSX_MAGIC = b"PK\x03\x04"
# Files that are surely not a text tape, whatever their name: PNG, PDF, GIF, JPEG, legacy
# Office (OLE2, e.g. .xls), gzip.
BINARY_MAGICS = (b"\x89PNG", b"%PDF-", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0", b"\x1f\x8b")


# --------------------------------------------------------------------------- upload


def detect_file_type(name: str | None, head: bytes) -> str | None:
    lower = (name or "").lower()
    if lower.endswith(".xlsx") or head.startswith(XLSX_MAGIC):
        return "xlsx" if head.startswith(XLSX_MAGIC) else None
    if head.startswith(BINARY_MAGICS) or b"\0" in head:
        return None  # a NUL byte is never in UTF-8 text (but is in images, UTF-16, ...)
    if lower.endswith(".csv") or lower.endswith(".txt") or not lower.rpartition(".")[1]:
        return "csv"
    return None


def uploads_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_upload_path(file_type: str) -> Path:
    return uploads_dir() / f"{uuid.uuid4().hex}.{file_type}"


def remove_upload(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --------------------------------------------------------------------------- header


def check_header(columns: list[str]) -> dict[str, int]:
    """Map known column name -> position; raise TapeRejected for PII, missing or duplicates."""
    errors: list[TapeError] = []
    names = [c.strip().lower() for c in columns]
    for name in names:
        if name in tape_format.PII_COLUMNS:
            message = f"column {name!r} holds borrower PII, which is never accepted"
            errors.append(tape_error(1, name, ErrorCode.PII_NOT_ALLOWED, message))
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in tape_format.COLUMNS_BY_NAME:
            if name in positions:
                message = f"column {name!r} appears twice"
                errors.append(tape_error(1, name, CommonCode.INVALID_VALUE, message))
            positions.setdefault(name, index)
    for name in tape_format.REQUIRED:
        if name not in positions:
            message = f"required column {name!r} is missing"
            errors.append(tape_error(1, name, ErrorCode.MISSING_COLUMN, message))
    if errors:
        raise TapeRejected(errors)
    return positions


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        raw = handle.readline()
    if not raw.strip(b"\r\n\xef\xbb\xbf \t"):
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TapeRejected.one(
            1, ErrorCode.INVALID_ENCODING, f"line 1 is not UTF-8: {exc}"
        ) from exc
    return next(csv.reader(io.StringIO(text)))


# --------------------------------------------------------------------------- sources


class TapeSource(Protocol):
    @property
    def header(self) -> list[str]:
        """The header's cells; empty for an empty file."""
        ...

    def batches(self, wanted: list[int]) -> Iterator[pa.RecordBatch]:
        """The rows' cells at the ``wanted`` positions, as text (null when empty), in blocks;
        Miss when a row is malformed or the reader cannot vouch for the cells."""
        ...

    def csv_path(self) -> Path:
        """The tape as a UTF-8 CSV file with its header, line for line, for the SQL path."""
        ...

    def close(self) -> None: ...


class CsvSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def header(self) -> list[str]:  # read once the package is locked (see the import)
        return _csv_header(self.path)

    def batches(self, wanted: list[int]) -> Iterator[pa.RecordBatch]:
        names = [f"c{i}" for i in range(len(self.header))]
        source = _CheckedFile(self.path)
        try:
            reader = pcsv.open_csv(
                source,
                read_options=pcsv.ReadOptions(
                    block_size=BLOCK, use_threads=True, skip_rows=1, column_names=names
                ),
                # Quoted line breaks are data, and a blank line is a (malformed) row, as they
                # are for PostgreSQL's COPY.
                parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    include_columns=[f"c{i}" for i in wanted],
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

    def csv_path(self) -> Path:
        return self.path

    def close(self) -> None:
        pass


class XlsxSource:
    def __init__(self, path: Path) -> None:
        self.sheet = XlsxTape(path)
        self.header = self.sheet.header
        self._converted = path.with_suffix(".converted.csv")
        self._written = False

    def batches(self, wanted: list[int]) -> Iterator[pa.RecordBatch]:
        if self.sheet.too_long is not None:
            raise Miss(f"row {self.sheet.too_long + 2} is wider than the header")
        return self.sheet.batches(wanted)

    def csv_path(self) -> Path:
        if not self._written:
            self.sheet.write_csv(self._converted)
            self._written = True
        return self._converted

    def close(self) -> None:
        self._converted.unlink(missing_ok=True)


def open_tape(path: Path, file_type: str) -> TapeSource:
    return XlsxSource(path) if file_type == "xlsx" else CsvSource(path)


class _CheckedFile(io.RawIOBase):
    """The upload as Arrow reads it, refusing (as a miss) what Arrow and PostgreSQL's CSV
    parser could read differently: a carriage return that does not end a CRLF line."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115  (closed by close())
        self._pending_cr = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # a writable buffer of Arrow's
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


# --------------------------------------------------------------------------- SQL path input


def chunks_checked(path: Path, chunk_size: int = BLOCK) -> Iterator[tuple[bytes, int]]:
    """The file's bytes (a BOM dropped) with the newlines in each chunk, checked as UTF-8;
    TapeRejected (``invalid_encoding``) with the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        first = True
        while chunk := handle.read(chunk_size):
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = line + chunk.count(b"\n", 0, exc.start)
                raise TapeRejected.one(
                    bad, ErrorCode.INVALID_ENCODING, f"line {bad} is not valid UTF-8"
                ) from exc
            newlines = chunk.count(b"\n")
            line += newlines
            yield chunk, newlines
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            message = f"line {line} ends in a truncated UTF-8 sequence"
            raise TapeRejected.one(line, ErrorCode.INVALID_ENCODING, message) from exc
