"""Package workflow through HTTP (API.md "Packages and loan tapes"), its audit events, and the
filters and ordering of GET /api/v1/packages/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from listings import services
from listings.models import Package, PackageStatus
from tests.listings.conftest import (
    assert_problem,
    audit_actions,
    audit_events,
    import_tape,
    import_via_api,
    loan_row,
    loan_rows,
    tape_csv,
    upload,
)

pytestmark = pytest.mark.django_db

PACKAGES = "/api/v1/packages/"


def _url(package_id: int, action: str = "") -> str:
    return f"{PACKAGES}{package_id}/" + (f"{action}/" if action else "")


def _set_status(package: Package, status: str) -> None:
    Package.objects.filter(pk=package.pk).update(status=status)


# --------------------------------------------------------------------------- create


def test_disposal_officer_creates_a_draft(seller_client, seller_user):
    response = seller_client.post(
        PACKAGES,
        {
            "title": "Q3 cards",
            "description": "Seoul",
            "currency": "KRW",
            "cut_off_date": "2026-06-30",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["seller"] == {
        "id": seller_user.organization_id,
        "name": seller_user.organization.name,
    }
    assert (body["currency"], body["cut_off_date"]) == ("KRW", "2026-06-30")
    assert body["loan_count"] == 0 and body["total_balance"] == "0.00"
    assert audit_actions(body["id"]) == ["package.created"]
    (event,) = audit_events(body["id"], "package.created")
    assert event.actor_user_id == seller_user.pk
    assert event.actor_organization_id == seller_user.organization_id


@pytest.mark.parametrize("caller", ["bidder_client", "compliance_client", "admin_client"])
def test_only_disposal_officers_create_packages(request, caller):
    client = request.getfixturevalue(caller)

    response = client.post(
        PACKAGES, {"title": "x", "currency": "EUR", "cut_off_date": "2026-06-30"}, format="json"
    )

    assert_problem(response, 403, "permission_denied")
    assert not Package.objects.exists()


def test_anonymous_cannot_create(api):
    response = api.post(
        PACKAGES, {"title": "x", "currency": "EUR", "cut_off_date": "2026-06-30"}, format="json"
    )

    assert_problem(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "E1R"),
        ("currency", ""),
        ("cut_off_date", "30/06/2026"),
        ("cut_off_date", "2026-02-30"),
        ("cut_off_date", "tomorrow"),
        ("title", ""),
    ],
)
def test_create_with_a_bad_value_is_400(seller_client, field, value):
    data = {"title": "Q3", "currency": "EUR", "cut_off_date": "2026-06-30", field: value}

    response = seller_client.post(PACKAGES, data, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert not Package.objects.exists()


# --------------------------------------------------------------------------- edit


def test_seller_edits_a_draft(seller_client, package):
    response = seller_client.patch(
        _url(package.pk), {"title": "Renamed", "description": "More"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Renamed"
    package.refresh_from_db()
    assert (package.title, package.description) == ("Renamed", "More")
    (event,) = audit_events(package.pk, "package.updated")
    assert event.data["after"] == {"title": "Renamed", "description": "More"}
    assert event.data["before"]["title"] == "Draft cards"


def test_currency_and_cut_off_may_change_before_any_tape(seller_client, package):
    response = seller_client.patch(
        _url(package.pk), {"currency": "KRW", "cut_off_date": "2026-03-31"}, format="json"
    )

    assert response.status_code == 200, response.content
    package.refresh_from_db()
    assert (package.currency, package.cut_off_date) == ("KRW", dt.date(2026, 3, 31))


def test_currency_is_fixed_once_a_tape_was_uploaded(seller_client, loaded_package):
    response = seller_client.patch(_url(loaded_package.pk), {"currency": "KRW"}, format="json")

    assert_problem(response, 409, "invalid_state")
    loaded_package.refresh_from_db()
    assert loaded_package.currency == "EUR"


def test_patch_with_a_bad_value_is_400(seller_client, package):
    response = seller_client.patch(_url(package.pk), {"cut_off_date": "31.12.2026"}, format="json")

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize(
    "status", [PackageStatus.PENDING_REVIEW, PackageStatus.APPROVED, PackageStatus.WITHDRAWN]
)
def test_patch_only_while_draft(seller_client, package, status):
    _set_status(package, status)

    response = seller_client.patch(_url(package.pk), {"title": "Late"}, format="json")

    body = assert_problem(response, 409, "invalid_state")
    assert body["current_status"] == status
    package.refresh_from_db()
    assert package.title == "Draft cards"


def test_other_bank_cannot_see_a_draft_to_patch_it(other_bank_client, package):
    response = other_bank_client.patch(_url(package.pk), {"title": "Mine"}, format="json")

    assert_problem(response, 404, "not_found")


def test_other_bank_cannot_patch_a_visible_package(other_bank_client, approved_package):
    response = other_bank_client.patch(_url(approved_package.pk), {"title": "Mine"}, format="json")

    assert_problem(response, 403, "permission_denied")
    approved_package.refresh_from_db()
    assert approved_package.title == "Draft cards"


def test_bidder_cannot_patch(bidder_client, approved_package):
    response = bidder_client.patch(_url(approved_package.pk), {"title": "x"}, format="json")

    assert_problem(response, 403, "permission_denied")


# --------------------------------------------------------------------------- submit / review


def test_submit_without_a_tape_is_409(seller_client, package):
    assert_problem(seller_client.post(_url(package.pk, "submit")), 409, "invalid_state")
    package.refresh_from_db()
    assert package.status == "draft"


def test_submit_with_a_pending_tape_is_409(seller_client, package):
    assert upload(seller_client, package.pk, tape_csv(loan_rows(2))).status_code == 202

    assert_problem(seller_client.post(_url(package.pk, "submit")), 409, "invalid_state")


def test_submit_with_a_failed_tape_is_409(seller_client, package):
    rows = loan_rows(2)
    rows[0]["currency"] = "USD"
    assert import_via_api(seller_client, package.pk, tape_csv(rows))["status"] == "failed"

    assert_problem(seller_client.post(_url(package.pk, "submit")), 409, "invalid_state")


def test_submit_approve_flow_with_audit(seller_client, compliance_client, loaded_package):
    response = seller_client.post(_url(loaded_package.pk, "submit"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending_review"

    response = compliance_client.post(
        _url(loaded_package.pk, "approve"), {"note": "fine"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"

    assert audit_actions(loaded_package.pk)[-2:] == ["package.submitted", "package.approved"]
    (approved,) = audit_events(loaded_package.pk, "package.approved")
    assert approved.data == {"from": "pending_review", "to": "approved", "note": "fine"}


def test_other_bank_cannot_submit(other_bank_client, loaded_package):
    assert_problem(other_bank_client.post(_url(loaded_package.pk, "submit")), 404, "not_found")
    loaded_package.refresh_from_db()
    assert loaded_package.status == "draft"


@pytest.mark.parametrize("caller", ["seller_client", "admin_client", "bidder_client"])
def test_only_compliance_approves(request, caller, seller_user, loaded_package):
    services.package_submit(actor=seller_user, package_id=loaded_package.pk)
    client = request.getfixturevalue(caller)

    response = client.post(_url(loaded_package.pk, "approve"), {}, format="json")

    assert response.status_code in (403, 404)
    assert response.json()["code"] in ("permission_denied", "not_found")
    loaded_package.refresh_from_db()
    assert loaded_package.status == "pending_review"


def test_approve_from_draft_is_409(compliance_client, loaded_package):
    response = compliance_client.post(_url(loaded_package.pk, "approve"), {}, format="json")

    assert_problem(response, 409, "invalid_state")


def test_reject_needs_a_reason(compliance_client, seller_user, loaded_package):
    services.package_submit(actor=seller_user, package_id=loaded_package.pk)

    for data in ({}, {"reason": ""}, {"reason": "   "}):
        response = compliance_client.post(_url(loaded_package.pk, "reject"), data, format="json")
        body = assert_problem(response, 400, "validation_error")
        assert "reason" in body["errors"]
    loaded_package.refresh_from_db()
    assert loaded_package.status == "pending_review"


def test_reject_returns_to_draft_with_the_reason(
    compliance_client, seller_client, seller_user, loaded_package
):
    services.package_submit(actor=seller_user, package_id=loaded_package.pk)

    response = compliance_client.post(
        _url(loaded_package.pk, "reject"), {"reason": "Regions missing"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "draft"
    assert response.json()["review_note"] == "Regions missing"
    (event,) = audit_events(loaded_package.pk, "package.rejected")
    assert event.data["reason"] == "Regions missing"
    # Back in draft: the seller may edit and submit again.
    assert (
        seller_client.patch(_url(loaded_package.pk), {"title": "v2"}, format="json").status_code
        == 200
    )
    assert seller_client.post(_url(loaded_package.pk, "submit")).status_code == 200


def test_seller_cannot_reject(seller_client, seller_user, loaded_package):
    services.package_submit(actor=seller_user, package_id=loaded_package.pk)

    response = seller_client.post(_url(loaded_package.pk, "reject"), {"reason": "x"}, format="json")

    assert_problem(response, 403, "permission_denied")


def test_reject_of_a_draft_is_409(compliance_client, loaded_package):
    response = compliance_client.post(
        _url(loaded_package.pk, "reject"), {"reason": "x"}, format="json"
    )

    assert_problem(response, 409, "invalid_state")


# --------------------------------------------------------------------------- withdraw


@pytest.mark.parametrize(
    "status", [PackageStatus.DRAFT, PackageStatus.PENDING_REVIEW, PackageStatus.APPROVED]
)
def test_seller_withdraws(seller_client, loaded_package, status):
    _set_status(loaded_package, status)

    response = seller_client.post(_url(loaded_package.pk, "withdraw"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    (event,) = audit_events(loaded_package.pk, "package.withdrawn")
    assert event.data == {"from": status, "to": "withdrawn"}


@pytest.mark.parametrize(
    "status", [PackageStatus.IN_AUCTION, PackageStatus.SOLD, PackageStatus.WITHDRAWN]
)
def test_withdraw_is_409_from(seller_client, loaded_package, status):
    _set_status(loaded_package, status)

    response = seller_client.post(_url(loaded_package.pk, "withdraw"))

    assert_problem(response, 409, "invalid_state")
    loaded_package.refresh_from_db()
    assert loaded_package.status == status
    assert audit_events(loaded_package.pk, "package.withdrawn") == []


def test_other_bank_cannot_withdraw(other_bank_client, approved_package):
    response = other_bank_client.post(_url(approved_package.pk, "withdraw"))

    assert_problem(response, 403, "permission_denied")
    approved_package.refresh_from_db()
    assert approved_package.status == "approved"


def test_compliance_cannot_withdraw(compliance_client, approved_package):
    assert_problem(
        compliance_client.post(_url(approved_package.pk, "withdraw")), 403, "permission_denied"
    )


# --------------------------------------------------------------------------- upload rules


@pytest.mark.parametrize(
    "status", [PackageStatus.PENDING_REVIEW, PackageStatus.APPROVED, PackageStatus.WITHDRAWN]
)
def test_upload_only_while_draft(seller_client, loaded_package, status):
    _set_status(loaded_package, status)
    tapes_before = loaded_package.tape_imports.count()

    response = upload(seller_client, loaded_package.pk, tape_csv(loan_rows(2)))

    assert_problem(response, 409, "invalid_state")
    assert loaded_package.tape_imports.count() == tapes_before


def test_upload_to_another_banks_draft_is_404(other_bank_client, package):
    assert_problem(upload(other_bank_client, package.pk, tape_csv(loan_rows(1))), 404, "not_found")
    assert package.tape_imports.count() == 0


@pytest.mark.parametrize("caller", ["other_bank_client", "bidder_client", "compliance_client"])
def test_upload_by_a_non_seller_is_403(request, caller, approved_package):
    client = request.getfixturevalue(caller)
    tapes_before = approved_package.tape_imports.count()

    response = upload(client, approved_package.pk, tape_csv(loan_rows(1)))

    assert_problem(response, 403, "permission_denied")
    assert approved_package.tape_imports.count() == tapes_before


def test_loan_tape_status_is_for_seller_and_platform(
    seller_client,
    compliance_client,
    admin_client,
    bidder_client,
    other_bank_client,
    approved_package,
):
    url = _url(approved_package.pk, "loan-tape")

    for client in (seller_client, compliance_client, admin_client):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"
    for client in (bidder_client, other_bank_client):
        assert_problem(client.get(url), 403, "permission_denied")


def test_loan_tape_status_before_any_upload_is_404(seller_client, package):
    assert_problem(seller_client.get(_url(package.pk, "loan-tape")), 404, "not_found")


def test_full_audit_trail_of_a_package(seller_client, compliance_client):
    response = seller_client.post(
        PACKAGES, {"title": "T", "currency": "EUR", "cut_off_date": "2026-09-30"}, format="json"
    )
    package_id = response.json()["id"]
    seller_client.patch(_url(package_id), {"title": "T2"}, format="json")
    bad = loan_rows(2)
    bad[1]["loan_id"] = bad[0]["loan_id"]
    import_via_api(seller_client, package_id, tape_csv(bad))
    import_via_api(seller_client, package_id, tape_csv(loan_rows(2)))
    seller_client.post(_url(package_id, "submit"))
    compliance_client.post(_url(package_id, "reject"), {"reason": "r"}, format="json")
    seller_client.post(_url(package_id, "submit"))
    compliance_client.post(_url(package_id, "approve"), {}, format="json")
    seller_client.post(_url(package_id, "withdraw"))

    assert audit_actions(package_id) == [
        "package.created",
        "package.updated",
        "loan_tape.uploaded",
        "loan_tape.failed",
        "loan_tape.uploaded",
        "loan_tape.imported",
        "package.submitted",
        "package.rejected",
        "package.submitted",
        "package.approved",
        "package.withdrawn",
    ]
    verify = compliance_client.get("/api/v1/audit-events/verify/")
    assert verify.status_code == 200 and verify.json()["valid"] is True


# --------------------------------------------------------------------------- list


@pytest.fixture
def listed(make_package, seller_user, other_bank_user):
    """Four packages with set summaries (as a successful import would leave them)."""

    def make(title, seller, status, currency, balance, count, dpd, products, description=""):
        package = make_package(
            seller=seller, title=title, currency=currency, description=description
        )
        Package.objects.filter(pk=package.pk).update(
            status=status,
            total_balance=balance,
            loan_count=count,
            weighted_avg_days_past_due=dpd,
            product_mix=products,
        )
        return Package.objects.get(pk=package.pk)

    packages = {
        "a": make("Alpha cards", seller_user, "approved", "EUR", "1000.00", 10, "100.00",
                  {"credit_card": 10}, "Seoul portfolio"),
        "b": make("Beta loans", seller_user, "draft", "KRW", "50000.00", 200, "800.00",
                  {"consumer_loan": 150, "credit_card": 50}),
        "c": make("Gamma SME", other_bank_user, "approved", "EUR", "250000.00", 40, "1500.50",
                  {"personal_business_loan": 40}),
        "d": make("Delta mixed", other_bank_user, "in_auction", "KRW", "7500.00", 75, "365.00",
                  {"consumer_loan": 75}, "busan and daegu"),
    }  # fmt: skip
    base = timezone.now() - dt.timedelta(days=1)
    for offset, key in enumerate("abcd"):
        Package.objects.filter(pk=packages[key].pk).update(
            created_at=base + dt.timedelta(minutes=offset)
        )
    return packages


def _titles(client, query: str = "") -> list[str]:
    response = client.get(f"{PACKAGES}?{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"])
    return [p["title"] for p in body["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"Alpha cards", "Beta loans", "Gamma SME", "Delta mixed"}),
        ("status=approved", {"Alpha cards", "Gamma SME"}),
        ("status=in_auction", {"Delta mixed"}),
        ("status=draft", {"Beta loans"}),
        ("currency=KRW", {"Beta loans", "Delta mixed"}),
        ("product_type=credit_card", {"Alpha cards", "Beta loans"}),
        ("product_type=personal_business_loan", {"Gamma SME"}),
        ("min_total_balance=7500", {"Beta loans", "Gamma SME", "Delta mixed"}),
        ("max_total_balance=7500", {"Alpha cards", "Delta mixed"}),
        ("min_total_balance=2000&max_total_balance=60000", {"Beta loans", "Delta mixed"}),
        ("min_loan_count=75", {"Beta loans", "Delta mixed"}),
        ("max_avg_days_past_due=365", {"Alpha cards", "Delta mixed"}),
        ("max_avg_days_past_due=1500.49", {"Alpha cards", "Beta loans", "Delta mixed"}),
        ("search=cards", {"Alpha cards"}),
        ("search=SEOUL", {"Alpha cards"}),  # description, case-insensitive
        ("search=busan", {"Delta mixed"}),
        ("status=approved&currency=EUR&min_loan_count=20", {"Gamma SME"}),
    ],
)
def test_package_filters(admin_client, listed, query, expected):
    assert set(_titles(admin_client, query)) == expected


def test_seller_filter(admin_client, listed, seller_user, other_bank_user):
    assert set(_titles(admin_client, f"seller={seller_user.organization_id}")) == {
        "Alpha cards",
        "Beta loans",
    }
    assert set(_titles(admin_client, f"seller={other_bank_user.organization_id}")) == {
        "Gamma SME",
        "Delta mixed",
    }


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("created_at", ["Alpha cards", "Beta loans", "Gamma SME", "Delta mixed"]),
        ("-created_at", ["Delta mixed", "Gamma SME", "Beta loans", "Alpha cards"]),
        ("total_balance", ["Alpha cards", "Delta mixed", "Beta loans", "Gamma SME"]),
        ("-total_balance", ["Gamma SME", "Beta loans", "Delta mixed", "Alpha cards"]),
        ("loan_count", ["Alpha cards", "Gamma SME", "Delta mixed", "Beta loans"]),
        ("-loan_count", ["Beta loans", "Delta mixed", "Gamma SME", "Alpha cards"]),
    ],
)
def test_package_ordering(admin_client, listed, ordering, expected):
    assert _titles(admin_client, f"ordering={ordering}") == expected


def test_default_order_is_newest_first(admin_client, listed):
    assert _titles(admin_client) == ["Delta mixed", "Gamma SME", "Beta loans", "Alpha cards"]


def test_list_is_scoped_to_what_the_caller_may_see(
    seller_client, other_bank_client, bidder_client, listed
):
    # Drafts only to their seller; approved and in-auction packages to everyone.
    assert set(_titles(seller_client)) == {"Alpha cards", "Beta loans", "Gamma SME", "Delta mixed"}
    assert set(_titles(other_bank_client)) == {"Alpha cards", "Gamma SME", "Delta mixed"}
    assert set(_titles(bidder_client)) == {"Alpha cards", "Gamma SME", "Delta mixed"}
    assert _titles(bidder_client, "status=draft") == []


def test_list_pagination(admin_client, listed):
    first = admin_client.get(f"{PACKAGES}?ordering=created_at&page_size=3").json()
    second = admin_client.get(f"{PACKAGES}?ordering=created_at&page_size=3&page=2").json()

    assert first["count"] == second["count"] == 4
    assert [p["title"] for p in first["results"]] == ["Alpha cards", "Beta loans", "Gamma SME"]
    assert [p["title"] for p in second["results"]] == ["Delta mixed"]
    assert first["next"] and first["previous"] is None
    assert second["next"] is None and second["previous"]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "product_type=mortgage",
        "seller=abc",
        "min_total_balance=lots",
        "max_total_balance=1,000",
        "min_loan_count=many",
        "max_avg_days_past_due=x",
    ],
)
def test_bad_filter_values_are_400(admin_client, listed, query):
    body = assert_problem(admin_client.get(f"{PACKAGES}?{query}"), 400, "validation_error")
    assert query.split("=")[0] in body["errors"]


def test_list_after_a_real_import(seller_client, make_package, seller_user, compliance_user):
    package = make_package(title="Imported")
    tape = import_tape(
        package,
        tape_csv([loan_row(1, product_type="personal_business_loan"), loan_row(2)]),
    )
    assert tape.status == "succeeded"

    assert _titles(seller_client, "product_type=personal_business_loan") == ["Imported"]
    assert _titles(seller_client, "product_type=consumer_loan") == []
    assert _titles(seller_client, "min_loan_count=2") == ["Imported"]
    assert _titles(seller_client, "min_loan_count=3") == []


@pytest.mark.parametrize("length", [10_001, 9 * 1024 * 1024])
def test_a_description_over_10000_characters_is_400_and_stores_nothing(
    seller_client, package_with_tape, length
):
    """Issue 11, item 10: a 9 MiB description was stored and then served in every list."""
    body = {"title": "Long", "currency": "EUR", "cut_off_date": "2026-09-30"}
    before = Package.objects.count()

    created = seller_client.post(PACKAGES, {**body, "description": "x" * length}, format="json")
    edited = seller_client.patch(
        f"{PACKAGES}{package_with_tape.pk}/", {"description": "x" * length}, format="json"
    )

    for response in (created, edited):
        problem = assert_problem(response, 400, "validation_error", with_errors=True)
        assert set(problem["errors"]) == {"description"}
    assert Package.objects.count() == before
    package_with_tape.refresh_from_db()
    assert len(package_with_tape.description) < 10_001


def test_a_description_of_10000_characters_is_kept(seller_client):
    body = {"title": "Long", "currency": "EUR", "cut_off_date": "2026-09-30"}

    response = seller_client.post(PACKAGES, {**body, "description": "é" * 10_000}, format="json")

    assert response.status_code == 201, response.content
    assert Package.objects.get(pk=response.json()["id"]).description == "é" * 10_000


def test_compliance_reasons_are_bounded(compliance_client, pending_buyer_org):
    response = compliance_client.post(
        f"/api/v1/organizations/{pending_buyer_org.pk}/reject/",
        {"reason": "x" * 2001},
        format="json",
    )

    assert_problem(response, 400, "validation_error", with_errors=True)
    pending_buyer_org.refresh_from_db()
    assert pending_buyer_org.eligibility == "pending"
