"""``manage.py generate_loan_tape`` and the synthetic tapes it writes."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from listings.models import Loan
from listings.tape_generator import HEADER
from tests.listings.conftest import import_via_api

pytestmark = pytest.mark.django_db


def _generate(path, *args: str) -> str:
    call_command("generate_loan_tape", "--out", str(path), *args)
    return path.read_text(encoding="utf-8")


def test_writes_the_requested_number_of_rows(tmp_path):
    text = _generate(tmp_path / "tape.csv", "--rows", "250", "--seed", "3")

    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == HEADER
    assert len(rows) == 251
    assert len({row[0] for row in rows[1:]}) == 250  # loan ids are unique
    assert {row[3] for row in rows[1:]} == {"EUR"}


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    first = _generate(tmp_path / "a.csv", "--rows", "200", "--seed", "7")
    again = _generate(tmp_path / "b.csv", "--rows", "200", "--seed", "7")
    other = _generate(tmp_path / "c.csv", "--rows", "200", "--seed", "8")

    assert first == again
    assert first != other


def test_generated_tape_imports(seller_client, package, tmp_path):
    path = tmp_path / "tape.csv"
    _generate(path, "--rows", "400", "--seed", "5")

    status = import_via_api(seller_client, package.pk, path.read_bytes())

    assert status["status"] == "succeeded", status["errors"][:5]
    assert Loan.objects.filter(package=package).count() == 400


@pytest.mark.parametrize(("seed", "errors"), [(1, 1), (2, 10), (3, 25)])
def test_every_invalid_row_is_reported(seller_client, package, tmp_path, seed, errors):
    path = tmp_path / "tape.csv"
    _generate(path, "--rows", "300", "--seed", str(seed), "--errors", str(errors))

    status = import_via_api(seller_client, package.pk, path.read_bytes())

    assert status["status"] == "failed"
    assert status["error_count"] >= errors
    assert len({e["line"] for e in status["errors"]}) >= errors
    assert Loan.objects.count() == 0


def test_currency_and_cut_off_options(seller_client, make_package, tmp_path):
    package = make_package(currency="KRW", cut_off=dt.date(2025, 12, 31))
    path = tmp_path / "tape.csv"
    text = _generate(
        path, "--rows", "100", "--seed", "4", "--currency", "KRW", "--cut-off", "2025-12-31"
    )
    assert {row["currency"] for row in csv.DictReader(text.splitlines())} == {"KRW"}

    status = import_via_api(seller_client, package.pk, path.read_bytes())

    assert status["status"] == "succeeded", status["errors"][:5]


@pytest.mark.parametrize(
    "args",
    [
        ("--rows", "-1"),
        ("--rows", "5", "--errors", "6"),
        ("--rows", "5", "--cut-off", "31/12/2025"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, args):
    with pytest.raises(CommandError):
        call_command("generate_loan_tape", "--out", str(tmp_path / "x.csv"), *args)
    assert not (tmp_path / "x.csv").exists()
