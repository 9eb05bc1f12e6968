"""The extent of a worksheet's cells, read from its XML as it streams out of the zip.

fastexcel (calamine) builds a dense grid from the first to the last cell it finds, whatever the
sheet declares: a 5 KB sheet holding one cell at ``XFD1048576`` makes it allocate 512 GiB and
abort the process. So before it reads a sheet, the import streams the sheet's XML once and
finds the largest row and column any cell or row element names, and the number of cells.

Cheap enough to run on every XLSX (about as long as inflating the XML): row elements are few
(one per row), and a cell's reference is matched only when it lies beyond the extent found so
far (one regular expression per extent, built by ``_beyond``), which in a real sheet is almost
never (its rows come in order, each row element before its cells). It adds about half the
sheet's read time to an XLSX import (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import IO

CHUNK = 1 << 20  # bytes of XML inflated and scanned at a time
CARRY_MAX = 64 * 1024  # at most this much of a tag cut by a chunk's end is kept for the next
_REF = re.compile(rb"([A-Z]{1,3})([0-9]{1,9})")
_ROOT_PREFIX = re.compile(rb"<(\w+:)?worksheet\b")


@dataclass
class Extent:
    """The grid a reader builds for the sheet: rows x columns, and the cells it holds."""

    rows: int = 0
    columns: int = 0
    cells: int = 0
    row_elements: int = 0
    numbered_rows: int = 0

    @property
    def grid_rows(self) -> int:
        # A row element without ``r`` follows the previous one: at worst after the largest.
        unnumbered = self.row_elements - self.numbered_rows
        return self.rows + max(unnumbered, 0)


def sheet_extent(sheet: IO[bytes]) -> Extent:
    """Scan the sheet's XML stream; the extent its cells and row elements span."""
    extent = Extent()
    carry = b""
    prefix: bytes | None = None
    while block := sheet.read(CHUNK):
        data = carry + block
        cut = data.rfind(b"<")
        carry = data[cut:] if cut >= 0 and len(data) - cut <= CARRY_MAX else b""
        data = data[:cut] if carry else data
        if prefix is None:
            root = _ROOT_PREFIX.search(data)
            prefix = root.group(1) or b"" if root else b""
        _scan(data, prefix, extent)
    if carry:
        _scan(carry, prefix or b"", extent)
    return extent


def _scan(data: bytes, prefix: bytes, extent: Extent) -> None:
    rows, cells = _patterns(prefix)
    open_row, open_cell = b"<" + prefix + b"row", b"<" + prefix + b"c"
    # Also counts the odd ``<rowBreaks>`` or ``<col>``: a bound, at half the cost of exact.
    extent.row_elements += data.count(open_row)
    extent.cells += data.count(open_cell)
    numbers = rows.findall(data)
    extent.numbered_rows += len(numbers)
    if numbers:
        extent.rows = max(extent.rows, max(map(int, numbers)))
    for ref in _beyond(cells, extent.rows, extent.columns).findall(data):
        match = _REF.fullmatch(ref)
        if match:
            extent.rows = max(extent.rows, int(match.group(2)))
            extent.columns = max(extent.columns, column_number(match.group(1).decode()))


@functools.lru_cache(maxsize=4)
def _patterns(prefix: bytes) -> tuple[re.Pattern[bytes], bytes]:
    esc = re.escape(prefix)
    rows = re.compile(rb"<" + esc + rb"row\b[^>]*?\sr\s*=\s*[\"']([0-9]{1,9})")
    # Any ``r`` attribute holding a cell reference, not only a ``<c>``'s: cheaper to find (a
    # literal start), and only a cell's can hold a reference.
    cells = rb"r\s*=\s*[\"'](%s)[\"']"
    return rows, cells


@functools.lru_cache(maxsize=64)
def _beyond(cells: bytes, rows: int, columns: int) -> re.Pattern[bytes]:
    """Cell references past ``rows`` or past ``columns``: the only ones that widen the grid."""
    later_row = rb"[A-Z]{1,3}" + _greater(str(rows), "0", "9").encode()
    later_column = _greater(column_letters(columns), "A", "Z").encode() + rb"[0-9]{1,9}"
    return re.compile(cells % (later_column + rb"|" + later_row))


def _greater(value: str, low: str, high: str) -> str:
    """A pattern for the strings of ``low``..``high`` symbols that exceed ``value`` when
    compared as numbers in that base (digits with ``0``-``9``, columns with ``A``-``Z``; a
    longer string is greater, neither has leading zeros). Empty or zero ``value``: any."""
    value = value.lstrip(low) if low == "0" else value
    symbol = f"[{low}-{high}]"
    first = f"[{chr(ord(low) + 1)}-{high}]" if low == "0" else symbol
    alternatives = [f"{first}{symbol}{{{len(value)},}}" if value else f"{first}{symbol}*"]
    for i, char in enumerate(value):
        if char != high:
            rest = len(value) - i - 1
            alternatives.append(f"{value[:i]}[{chr(ord(char) + 1)}-{high}]{symbol}{{{rest}}}")
    return "(?:" + "|".join(alternatives) + ")"


def column_number(letters: str) -> int:
    """``A`` is 1, ``Z`` 26, ``AA`` 27, ``XFD`` 16384."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def column_letters(number: int) -> str:
    """The inverse of ``column_number``; 0 is the empty string."""
    letters = ""
    while number > 0:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
