"""An XLSX tape: its first sheet read by fastexcel (Rust, calamine) straight into Arrow.

Every cell is read as text, then written the way the tape's CSV would be (and the way the
import has always read XLSX): a date or date-time cell as its date ``YYYY-MM-DD``, a number
as its shortest decimal (``1000.5``, ``400``), a boolean as ``true``/``false``, an empty cell
as empty. Rows with no cell at all are skipped, a row's trailing empty cells do not count,
and the first row is the header. The text cells then meet the same rules as a CSV tape's:
the fast path takes the Arrow blocks as they are; on a miss the SQL path reads the sheet
written out as CSV (``write_csv``), with the same lines.

A sheet is refused (``invalid_file``) before it is read when its declared dimension is
implausible for its size, e.g. a 5 KB sheet claiming ``A1:XFD1048576``, or when its cells span
a grid the reader could not hold (``sheet_extent``): the reader allocates the whole grid from
the first cell to the last, so one cell at ``XFD1048576`` would make it abort the process.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import fastexcel
import pyarrow as pa
import pyarrow.compute as pc

from listings.codes import ErrorCode
from listings.tape.errors import TapeRejected
from listings.tape.sheet_extent import column_number, sheet_extent

MAX_COLUMNS = 1024  # the format has 18; a few hundred unknown ones are still read
MIN_ROW_BYTES = 16  # a sheet's row takes at least this much XML (``<row r="1">...</row>``)
DIMENSION_HEAD = 64 * 1024  # the dimension element comes before the sheet's data
# The grid the reader allocates (first to last cell, about 24 bytes a slot) may be this many
# times the cells the sheet holds, or GRID_FLOOR slots whatever it holds. A tape fills nearly
# every slot of its grid; a sheet whose few cells lie far apart would take gigabytes.
GRID_PER_CELL = 16
GRID_FLOOR = 1 << 22
BATCH_ROWS = 8192  # rows per Arrow block handed to the fast path
_DATE_TIME = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
_CELL = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z0-9:$]+)"')


class XlsxTape:
    """The first sheet as text cells: ``header`` and the rows (columns ``c0``, ``c1``, ...)."""

    def __init__(self, path: Path) -> None:
        check_plausible(path)
        table = _read_first_sheet(path)
        self.header, self.rows, self.too_long = _split(table)

    def batches(self, wanted: list[int]) -> Iterator[pa.RecordBatch]:
        selected = pa.Table.from_batches([self.rows.select([f"c{i}" for i in wanted])])
        yield from selected.to_batches(max_chunksize=BATCH_ROWS)

    def write_csv(self, target: Path) -> None:
        """The sheet as the UTF-8 CSV tape it stands for: the header, then each row's cells up
        to the header's width (and a longer row's extra cells up to its last one)."""
        width = len(self.header)
        with open(target, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(self.header)
            for batch in pa.Table.from_batches([self.rows]).to_batches(max_chunksize=BATCH_ROWS):
                for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                    cells = ["" if cell is None else cell for cell in row]
                    while len(cells) > width and cells[-1] == "":
                        cells.pop()
                    writer.writerow(cells)


def _read_first_sheet(path: Path) -> pa.RecordBatch:
    try:
        # eager: straight into one Arrow batch (a lazy sheet costs a second copy).
        sheet = fastexcel.read_excel(path).load_sheet(
            0, header_row=None, dtypes="string", eager=True
        )
    except Exception as exc:  # fastexcel's errors have no common base: any failure is unreadable
        raise TapeRejected.one(
            1, ErrorCode.UNSUPPORTED_FILE_TYPE, f"not a readable XLSX workbook: {exc}"
        ) from exc
    assert isinstance(sheet, pa.RecordBatch)
    if sheet.num_columns > MAX_COLUMNS:
        raise _implausible(f"its first sheet has {sheet.num_columns} columns")
    columns = [_as_tape_text(column) for column in sheet.columns]
    return pa.record_batch(columns, names=[f"c{i}" for i in range(len(columns))])


def _as_tape_text(column: pa.Array) -> pa.Array:
    """Cells as a CSV tape would hold them: empty is null, a date-time cell is its date.

    The cheap substring tests skip the kernels for the columns that need neither."""
    column = column.cast(pa.string())
    if pc.any(pc.equal(column, "")).as_py():
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    if pc.any(pc.match_substring(column, ":")).as_py():
        column = pc.replace_substring_regex(column, pattern=_DATE_TIME, replacement=r"\1")
    return column


def _split(table: pa.RecordBatch) -> tuple[list[str], pa.RecordBatch, int | None]:
    """The header, the rows after it, and the first row (0-based) with a cell past the
    header's width; rows without any cell are dropped first."""
    if table.num_columns == 0:
        return [], table, None
    any_cell = _any_cell(table.columns)
    if not pc.all(any_cell).as_py():
        table = table.filter(any_cell)
    if table.num_rows == 0:
        return [], table, None
    first = [table.column(i)[0].as_py() for i in range(table.num_columns)]
    while first and first[-1] is None:
        first.pop()
    header = ["" if cell is None else cell for cell in first]
    rows = table.slice(1)
    too_long = None
    if table.num_columns > len(header):
        beyond = _any_cell(rows.columns[len(header) :])
        indexes = pc.indices_nonzero(beyond)
        too_long = indexes[0].as_py() if len(indexes) else None
    return header, rows, too_long


def _any_cell(columns: list[pa.Array]) -> pa.Array:
    """Per row: true when any of ``columns`` (at least one) has a cell."""
    present = pc.is_valid(columns[0])
    for column in columns[1:]:
        present = pc.or_(present, pc.is_valid(column))
    return present


# --------------------------------------------------------------------------- plausibility


def check_plausible(path: Path) -> None:
    """Refuse (``invalid_file``) a first sheet the reader could not hold: a declared dimension
    wider than MAX_COLUMNS or with more rows than its XML could hold (read from the sheet's
    head), then, streaming the whole sheet, cells past MAX_COLUMNS or a grid (first to last
    cell) far larger than the cells it holds. Anything unreadable here is left for the reader,
    which reports it."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _first_sheet_member(archive)
            if member is None:
                return
            size = archive.getinfo(member).file_size
            with archive.open(member) as sheet:
                _check_dimension(sheet.read(DIMENSION_HEAD), size)
            with archive.open(member) as sheet:
                extent = sheet_extent(sheet)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, EOFError, zlib.error):
        return
    if extent.columns > MAX_COLUMNS:
        raise _implausible(f"its first sheet has a cell in column {extent.columns}")
    grid = extent.grid_rows * extent.columns
    if grid > max(GRID_PER_CELL * extent.cells, GRID_FLOOR):
        raise _implausible(
            f"its first sheet spans {extent.grid_rows} rows x {extent.columns} columns "
            f"for {extent.cells} cells"
        )


def _check_dimension(head: bytes, size: int) -> None:
    match = _DIMENSION.search(head)
    if match is None:
        return
    rows, columns = _extent(match.group(1).decode().replace("$", ""))
    if columns > MAX_COLUMNS:
        raise _implausible(f"its first sheet claims {columns} columns")
    if rows > max(size // MIN_ROW_BYTES, 1):
        raise _implausible(f"its first sheet claims {rows} rows in {size} bytes")


def _implausible(why: str) -> TapeRejected:
    return TapeRejected.one(0, ErrorCode.INVALID_FILE, f"the workbook is implausible: {why}")


def _extent(ref: str) -> tuple[int, int]:
    """Rows and columns spanned by a range such as ``A1:R3`` (or a single cell)."""
    corners = [_CELL.fullmatch(part) for part in ref.split(":")]
    if not all(corners):
        return 0, 0
    rows = [int(m.group(2)) for m in corners if m]
    columns = [column_number(m.group(1)) for m in corners if m]
    return max(rows) - min(rows) + 1, max(columns) - min(columns) + 1


def _first_sheet_member(archive: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (as fastexcel orders them)."""
    workbook = archive.read("xl/workbook.xml")
    rels = archive.read("xl/_rels/workbook.xml.rels")
    sheet = re.search(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", workbook)
    if sheet is None:
        return None
    rel_id = re.escape(sheet.group(1))
    for rel in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        tag = rel.group(0)
        if re.search(rb'\bId="' + rel_id + rb'"', tag):
            target = re.search(rb'\bTarget="([^"]+)"', tag)
            if target is None:
                return None
            name = target.group(1).decode()
            base = PurePosixPath("/") if name.startswith("/") else PurePosixPath("/xl")
            return str((base / name).relative_to("/")).replace("/./", "/")
    return None
