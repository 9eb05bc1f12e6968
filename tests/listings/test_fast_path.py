"""The SQL path's one-pass load of a clean tape and the full validation it falls back to.

A clean tape is checked and loaded by one INSERT ... SELECT; anything that pass does not accept
as written goes through the full validation, which either reports every error or, for cells
that are valid once trimmed, loads them from the trimmed cells. Both must give the same loans.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from listings.models import Loan
from listings.tape import sql_load
from tests.listings.conftest import import_tape, loan_row, tape_csv

pytestmark = pytest.mark.django_db


def _loans(package) -> list[tuple]:
    return list(
        Loan.objects.filter(package=package)
        .order_by("loan_id")
        .values_list("loan_id", "region", "outstanding_principal", "written_off", "borrower_age")
    )


def test_a_clean_tape_never_runs_the_full_validation(package, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the full validation ran for a clean tape")

    monkeypatch.setattr(sql_load, "validate", fail)
    tape = import_tape(package, tape_csv([loan_row(n) for n in range(1, 21)]))

    assert tape.status == "succeeded" and tape.rows_total == 20
    assert Loan.objects.filter(package=package).count() == 20


def test_cells_valid_once_trimmed_load_through_the_full_validation(package, monkeypatch):
    calls = []
    original = sql_load.validate
    monkeypatch.setattr(
        sql_load, "validate", lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    )
    padded = [
        loan_row(1, region="  Seoul ", outstanding_principal=" 1000.00", written_off="TRUE"),
        loan_row(2, borrower_age=" 40 ", fees_and_penalties="5."),
    ]
    tape = import_tape(package, tape_csv(padded))

    assert tape.status == "succeeded", tape.errors
    assert calls == [1]
    loans = {row[0]: row for row in _loans(package)}
    assert loans["L00001"][1] == "Seoul"
    assert loans["L00001"][2] == Decimal("1000.00")
    assert loans["L00001"][3] is True
    assert loans["L00002"][4] == 40


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("origination_date", "20180115"),
        ("origination_date", "2018-1-015"),
        ("outstanding_principal", "1e3"),
        ("outstanding_principal", "1_000"),
        ("outstanding_principal", "+5"),
        ("outstanding_principal", ".5"),
        ("outstanding_principal", "1.005"),
        ("days_past_due", "0x1F"),
        ("days_past_due", "12.0"),
        ("written_off", "yes"),
        ("borrower_age", "17"),
        ("default_date", "2017-01-01"),  # before origination 2018-01-15
    ],
)
def test_the_one_pass_load_is_never_more_lenient_than_the_format(package, column, value):
    tape = import_tape(package, tape_csv([loan_row(1), loan_row(2, **{column: value})]))

    assert tape.status == "failed"
    assert {(e["line"], e["column"]) for e in tape.errors} == {(3, column)}
    assert Loan.objects.filter(package=package).count() == 0
