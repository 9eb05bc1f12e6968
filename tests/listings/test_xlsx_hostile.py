"""Hostile workbooks are refused (``invalid_file``) before fastexcel reads them (issue 11,
item 0), and an import cut off by its time limit fails instead of running again.

fastexcel allocates the whole grid from the first cell to the last: one cell at
``XFD1048576`` in a 5 KB sheet without a dimension makes it ask for 512 GiB and abort the
process. So these tests also fail by crashing the test process if the check lets one through.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from listings.models import Loan, TapeStatus
from listings.services import loan_tape_time_out, loan_tape_upload
from listings.tape import xlsx
from listings.tape.errors import TapeRejected
from listings.tape.sheet_extent import _greater, column_letters, column_number, sheet_extent
from tests.listings.conftest import audit_actions, import_tape, loan_rows
from tests.listings.test_tape_xlsx import _tapes

pytestmark = pytest.mark.django_db

SHEET = "xl/worksheets/sheet1.xml"


def _rewrite_sheet(content: bytes, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, change(data) if item.filename == SHEET else data)
    return out.getvalue()


def _without_dimension_plus(cells: bytes):
    """Drop the declared dimension and append ``cells`` (row elements) to the sheet's data."""

    def change(data: bytes) -> bytes:
        data, count = re.subn(rb"<dimension [^>]*/>", b"", data)
        assert count == 1
        return data.replace(b"</sheetData>", cells + b"</sheetData>")

    return change


FAR_CELL = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
# The same far cell written the ways XML allows: attributes first, spaces, single quotes.
FAR_CELL_DISGUISED = (
    b'<row r = \'1048576\' spans="1:1"><c s="0"\n r = \'XFD1048576\' t="inlineStr">'
    b"<is><t>x</t></is></c></row>"
)
FAR_ROW = b'<row r="900000"><c r="R900000" t="inlineStr"><is><t>x</t></is></c></row>'
# A cell past the last row element's number, inside a row element that claims row 3.
FAR_ROW_IN_CELL = b'<row r="3"><c r="R900000" t="inlineStr"><is><t>x</t></is></c></row>'
WIDE = b'<row r="3"><c r="AMK3" t="inlineStr"><is><t>x</t></is></c></row>'


@pytest.mark.parametrize(
    "cells", [FAR_CELL, FAR_CELL_DISGUISED, FAR_ROW, FAR_ROW_IN_CELL, WIDE], ids=str
)
def test_a_sheet_whose_cells_span_an_implausible_grid_is_an_invalid_file(package, cells):
    _, content = _tapes(loan_rows(2))
    content = _rewrite_sheet(content, _without_dimension_plus(cells))
    assert len(content) < 10_000

    started = time.monotonic()
    tape = import_tape(package, content, "tape.xlsx")

    assert tape.status == "failed"
    assert [(e["line"], e["column"], e["code"]) for e in tape.errors] == [(0, None, "invalid_file")]
    assert "implausible" in tape.errors[0]["message"]
    assert Loan.objects.count() == 0
    # Refused from the XML in milliseconds; no bound asserted, but minutes would be the bug.
    print(f"refused in {time.monotonic() - started:.3f} s")


def test_a_sheet_with_a_few_empty_rows_and_cells_still_imports(package):
    """Gaps a real workbook has (an empty row, cells left out) stay well inside the bound."""
    _, content = _tapes(loan_rows(3))
    gap = b'<row r="6"><c r="A6" t="inlineStr"><is><t></t></is></c></row>'
    content = _rewrite_sheet(content, _without_dimension_plus(gap))

    tape = import_tape(package, content, "tape.xlsx")

    assert tape.status == "succeeded", tape.errors
    assert Loan.objects.filter(package=package).count() == 3


def test_the_extent_is_found_wherever_the_cells_lie(tmp_path: Path):
    """Cells read in chunks: one beyond the extent found so far is seen in any chunk, also
    when a chunk's end cuts its tag."""
    rows = [
        f'<row r="{r}"><c r="A{r}"><v>1</v></c><c r="C{r}"><v>2</v></c></row>'
        for r in range(1, 40_001)
    ]
    rows[25_000] = '<row r="25001"><c r="A25001"><v>1</v></c><c r="AB77777"><v>1</v></c></row>'
    xml = ("<worksheet><sheetData>" + "".join(rows) + "</sheetData></worksheet>").encode()
    assert len(xml) > 2 * (1 << 20)

    extent = sheet_extent(io.BytesIO(xml))

    assert (extent.rows, extent.columns) == (77_777, column_number("AB"))
    assert extent.cells == 80_000 and extent.row_elements == extent.numbered_rows == 40_000


@pytest.mark.parametrize("value", ["0", "9", "10", "99", "100001", "1048575"])
def test_greater_matches_exactly_the_larger_numbers(value):
    pattern = re.compile(_greater(value, "0", "9"))
    n = int(value)
    for candidate in {0, 1, 8, 9, 10, 11, 99, 100, max(n - 1, 0), n, n + 1, n * 10, 1048576}:
        assert bool(pattern.fullmatch(str(candidate))) == (candidate > n), candidate


@pytest.mark.parametrize("columns", [0, 1, 18, 26, 27, 52, 702, 703, 1024])
def test_greater_matches_exactly_the_later_columns(columns):
    pattern = re.compile(_greater(column_letters(columns), "A", "Z"))
    for candidate in {1, 2, 25, 26, 27, 28, 701, 702, 703, 1023, 1024, 1025, 16384}:
        letters = column_letters(candidate)
        assert column_number(letters) == candidate
        assert bool(pattern.fullmatch(letters)) == (candidate > columns), letters


def test_check_plausible_refuses_the_far_cell_directly(tmp_path: Path):
    _, content = _tapes(loan_rows(1))
    path = tmp_path / "far.xlsx"
    path.write_bytes(_rewrite_sheet(content, _without_dimension_plus(FAR_CELL)))

    with pytest.raises(TapeRejected):
        xlsx.check_plausible(path)


def test_an_import_cut_off_by_its_time_limit_fails_once(
    package, tape_storage, django_capture_on_commit_callbacks
):
    """What the task does when the soft limit fires: the import fails with invalid_file, its
    upload goes, and a later time-out (or rerun) leaves it failed."""
    _, content = _tapes(loan_rows(2))

    tape = loan_tape_upload(
        actor=package.created_by,
        package_id=package.pk,
        upload=SimpleUploadedFile("tape.xlsx", content),
        file_type="xlsx",
    )
    tape.status = TapeStatus.PROCESSING
    tape.save(update_fields=["status"])
    stored = Path(tape.stored_path)
    assert stored.exists()

    with django_capture_on_commit_callbacks(execute=True):
        failed = loan_tape_time_out(import_id=tape.pk, seconds=600)

    assert failed.status == "failed"
    assert [e["code"] for e in failed.errors] == ["invalid_file"]
    assert "time limit (600 s)" in failed.errors[0]["message"]
    assert not stored.exists()
    assert audit_actions(package.pk).count("loan_tape.failed") == 1
    assert loan_tape_time_out(import_id=tape.pk, seconds=600).status == "failed"
    assert audit_actions(package.pk).count("loan_tape.failed") == 1
