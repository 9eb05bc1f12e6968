"""Risk signals: every flag on a crafted tape, figures against a recount, who sees them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from listings import services as listing_services
from listings.models import Package
from listings.tape.risk import RULES
from tests.factories import LoanTapeImportFactory, PackageFactory, demo_loan, platform_user
from tests.support import CUT_OFF, assert_problem, client_for

pytestmark = pytest.mark.django_db


def _import(seller_user, rows) -> Package:
    package = listing_services.package_create(
        actor=seller_user, title="Crafted", currency="CNY", cut_off_date=CUT_OFF
    )
    tape = LoanTapeImportFactory(package=package, rows=rows)
    assert tape.status == "succeeded", tape.errors
    package.refresh_from_db()
    return package


def _list(seller_user, package: Package) -> None:
    listing_services.package_submit(actor=seller_user, package_id=package.pk)
    listing_services.package_approve(actor=platform_user(), package_id=package.pk)


def _crafted_rows() -> list[dict[str, str]]:
    """Forty loans built to raise every flag of RULES."""
    same = {
        "outstanding_principal": "1000.00",
        "accrued_interest": "0.00",
        "fees_and_penalties": "0.00",
    }
    rows = [
        demo_loan(
            n,
            region="Guangdong",  # one region: region_hhi 1
            product_type="credit_card",  # one product: product_hhi 1
            legal_status="enforcement",
            days_past_due="2000",  # past five years overdue
            origination_date="2005-01-01" if n % 2 else "2017-01-01",  # 12-year spread
            default_date="",
            last_payment_date="",
            **same,  # 40 identical balances
        )
        for n in range(1, 41)
    ]
    rows[0].update(borrower_id="BRW-SHARED", outstanding_principal="500000.00")  # concentration
    rows[1].update(borrower_age="100")  # a cell at the format's limit
    rows[2].update(origination_date="2026-09-01")  # 2000 days overdue on a 29-day-old loan
    return rows


def test_every_flag_on_a_crafted_tape(seller_user, tape_storage):
    earlier = _import(seller_user, [demo_loan(1, borrower_id="BRW-SHARED")])
    _list(seller_user, earlier)

    package = _import(seller_user, _crafted_rows())

    risk = package.risk
    assert {f["code"] for f in risk["flags"]} == {rule.code for rule in RULES}
    by_code = {f["code"]: f for f in risk["flags"]}
    assert by_code["borrowers_in_other_packages"]["value"] == "1"
    assert by_code["dpd_inconsistent_with_dates"] == {
        "code": "dpd_inconsistent_with_dates",
        "value": "1",
        "threshold": "0",
        "severity": "high",
    }
    assert by_code["cells_at_format_limits"]["value"] == "1"
    assert by_code["repeated_identical_balances"]["value"] == "39"
    assert by_code["wide_vintage_spread"]["value"] == "21"  # 2005 to 2026
    assert risk["concentration"]["region_hhi"] == "1.0000"
    assert risk["concentration"]["product_hhi"] == "1.0000"
    total = Decimal(500000 + 39 * 1000)
    assert risk["concentration"]["largest_borrower_share"] == str(
        (Decimal(500000) / total).quantize(Decimal("0.0001"))
    )
    assert risk["concentration"]["top10_borrower_share"] == str(
        (Decimal(500000 + 9 * 1000) / total).quantize(Decimal("0.0001"))
    )
    assert risk["share_over_5_years_overdue"] == "1.0000"
    assert risk["share_in_litigation_or_enforcement"] == "1.0000"


def test_a_plain_tape_raises_no_data_quality_flag(seller_user, tape_storage):
    rows = [demo_loan(n) for n in range(1, 31)]

    package = _import(seller_user, rows)

    codes = {f["code"] for f in package.risk["flags"]}
    assert not codes & {
        "borrowers_in_other_packages",
        "cells_at_format_limits",
        "repeated_identical_balances",
        "dpd_inconsistent_with_dates",
    }
    assert package.risk["borrowers_in_other_packages"] == 0


def test_packages_of_another_seller_do_not_count(seller_user, other_bank_user, tape_storage):
    theirs = _import(other_bank_user, [demo_loan(1, borrower_id="BRW-SHARED")])
    _list(other_bank_user, theirs)

    package = _import(seller_user, [demo_loan(2, borrower_id="BRW-SHARED")])

    assert package.risk["borrowers_in_other_packages"] == 0


def test_risk_is_visible_to_whoever_sees_the_package(
    seller_user, role_clients, other_bank_client, api, tape_storage
):
    draft = PackageFactory(created_by=seller_user, loans=5)
    listed = PackageFactory(created_by=seller_user, status="approved")

    for client in role_clients.values():
        body = client.get(f"/api/v1/packages/{listed.pk}/risk/").json()
        assert set(body) >= {"flags", "concentration", "data_quality"}
    assert other_bank_client.get(f"/api/v1/packages/{listed.pk}/risk/").status_code == 200
    assert_problem(other_bank_client.get(f"/api/v1/packages/{draft.pk}/risk/"), 404, "not_found")
    assert role_clients["bidder"].get(f"/api/v1/packages/{draft.pk}/risk/").status_code == 404
    assert client_for(seller_user).get(f"/api/v1/packages/{draft.pk}/risk/").status_code == 200
    assert_problem(api.get(f"/api/v1/packages/{listed.pk}/risk/"), 401, "not_authenticated")
