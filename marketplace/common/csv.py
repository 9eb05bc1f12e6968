"""Streaming CSV responses: rows are written as they are read, memory stays flat.

Every CSV the API produces is safe to open in a spreadsheet: a text cell that starts with a
character a spreadsheet would treat as the start of a formula (OWASP "CSV Injection": ``=``,
``+``, ``-``, ``@``, tab, carriage return) gets a leading single quote, so it is shown as text
and never run. A plain number (``-12.50``, ``+3``, ``1e5``) is data, not a formula, and is
left as it is. The rule is declared once here, in its two forms: ``safe_cell`` for the rows
Python writes, ``safe_cell_sql`` for the rows PostgreSQL writes (the loan schedule). The JSON
API is not affected: only the CSV writers call them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

# The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, optionally signed, with an optional exponent; the same pattern in
# Python (re.fullmatch) and in PostgreSQL (anchored ``~``).
NUMBER_PATTERN = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_PATTERN)


class _Echo:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: object) -> object:
    """The value as a CSV cell: None empty, a would-be formula quoted, anything else as is."""
    if value is None:
        return ""
    is_formula = isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
    if is_formula and not _NUMBER.fullmatch(str(value)):
        return "'" + str(value)
    return value


def safe_cell_sql(column: str) -> str:
    """``safe_cell`` as a SQL expression over a text ``column`` (a fixed name, never input)."""
    prefixes = ", ".join(f"E'\\x{ord(c):02x}'" for c in FORMULA_PREFIXES)
    return (
        f"CASE WHEN left({column}, 1) IN ({prefixes}) AND {column} !~ '^{NUMBER_PATTERN}$' "
        f"THEN '''' || {column} ELSE {column} END"
    )


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


def streaming_csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
