"""The data room: GET /packages/{id}/loans/ filters, pagination, CSV export, borrower
references, grants and ``?owner=me``."""

from __future__ import annotations

import csv
import io

import pytest

from listings import services
from listings.models import DataRoomGrant, Loan
from listings.serializers import LOAN_FIELDS
from listings.tape.hashing import borrower_hash
from marketplace.accounts import services as account_services
from marketplace.audit.models import AuditEvent
from tests.listings.conftest import (
    PORTFOLIO,
    assert_problem,
    audit_events,
    import_tape,
    import_via_api,
    loan_row,
    loan_rows,
    tape_csv,
)

pytestmark = pytest.mark.django_db


def _loans_url(package) -> str:
    return f"/api/v1/packages/{package.pk}/loans/"


def _loan_ids(client, package, query: str = "") -> list[str]:
    response = client.get(f"{_loans_url(package)}?page_size=200&{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return [loan["loan_id"] for loan in body["results"]]


def _csv(client, package, query: str = "") -> list[list[str]]:
    response = client.get(f"{_loans_url(package)}?format=csv&{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [1, 2, 3, 4, 5, 6, 7]),
        ("product_type=credit_card", [1, 2, 6]),
        ("product_type=personal_business_loan", [5]),
        ("region=Seoul", [1, 3, 5]),
        ("region=Busan", [2, 7]),
        ("region=Nowhere", []),
        ("legal_status=in_litigation", [2, 7]),
        ("legal_status=settled", [5]),
        ("min_days_past_due=365", [3, 4, 5, 7]),
        ("max_days_past_due=90", [1, 6]),
        ("min_days_past_due=90&max_days_past_due=365", [2, 3, 6]),
        ("min_balance=5000", [3, 4, 5, 7]),  # balances 1000, 4999.99, 5000, 20000, 80000,
        ("max_balance=4999.99", [1, 2, 6]),  # 330, 150000
        ("min_balance=20000&max_balance=100000", [4, 5]),
        ("product_type=consumer_loan&region=Busan&min_days_past_due=1000", [7]),
    ],
)
def test_loan_filters(seller_client, loaded_package, query, expected):
    assert _loan_ids(seller_client, loaded_package, query) == [f"L{n:05d}" for n in expected]


@pytest.mark.parametrize(
    "query",
    [
        "product_type=mortgage",
        "legal_status=bankrupt",
        "min_days_past_due=abc",
        "max_days_past_due=1.5.2",
        "min_balance=lots",
        "max_balance=1,000",
    ],
)
def test_bad_loan_filter_values_are_400(seller_client, loaded_package, query):
    body = assert_problem(
        seller_client.get(f"{_loans_url(loaded_package)}?{query}"), 400, "validation_error"
    )
    assert query.split("=")[0] in body["errors"]
    assert audit_events(loaded_package.pk, "data_room.accessed") == []


def test_loans_pagination(seller_client, loaded_package):
    first = seller_client.get(f"{_loans_url(loaded_package)}?page_size=3").json()
    third = seller_client.get(f"{_loans_url(loaded_package)}?page_size=3&page=3").json()

    assert first["count"] == third["count"] == 7
    assert [loan["loan_id"] for loan in first["results"]] == ["L00001", "L00002", "L00003"]
    assert [loan["loan_id"] for loan in third["results"]] == ["L00007"]
    assert "page=2" in first["next"] and first["previous"] is None
    assert third["next"] is None and third["previous"]
    beyond = seller_client.get(f"{_loans_url(loaded_package)}?page_size=3&page=4")
    assert_problem(beyond, 404, "not_found")


def test_page_size_is_capped_at_200(seller_client, package):
    assert import_tape(package, tape_csv(loan_rows(230))).status == "succeeded"

    body = seller_client.get(f"{_loans_url(package)}?page_size=500").json()

    assert body["count"] == 230
    assert len(body["results"]) == 200


def test_loan_row_fields(seller_client, loaded_package):
    loan = seller_client.get(f"{_loans_url(loaded_package)}?region=Gyeonggi").json()["results"][0]

    assert {*LOAN_FIELDS} <= set(loan)
    assert loan["loan_id"] == "L00004"
    assert loan["outstanding_principal"] == "15000.00"
    assert loan["balance"] == "20000.00"
    assert loan["days_past_due"] == 700
    assert loan["origination_date"] == "2018-01-15"
    assert loan["written_off"] is False


def test_loans_expose_borrower_ref_never_the_id_or_hash(seller_client, loaded_package):
    response = seller_client.get(_loans_url(loaded_package))
    text = response.content.decode()
    loans = response.json()["results"]

    hashes = dict(Loan.objects.values_list("loan_id", "borrower_hash"))
    for loan in loans:
        assert "borrower_id" not in loan and "borrower_hash" not in loan
        digest = hashes[loan["loan_id"]]
        assert loan["borrower_ref"] == f"BRW-{digest[:12].upper()}"
    for n in range(1, len(PORTFOLIO) + 1):
        assert f"B{n:05d}" not in text
        assert borrower_hash(f"B{n:05d}") not in text
    assert len({loan["borrower_ref"] for loan in loans}) == len(PORTFOLIO)


def test_csv_export_streams_every_matching_row_with_a_header(seller_client, loaded_package):
    rows = _csv(seller_client, loaded_package, "page_size=2&region=Seoul")

    assert rows[0] == LOAN_FIELDS
    assert [row[0] for row in rows[1:]] == ["L00001", "L00003", "L00005"]  # not paginated
    by_name = dict(zip(LOAN_FIELDS, rows[3], strict=True))
    assert by_name["borrower_ref"].startswith("BRW-")
    assert by_name["balance"] == "80000.00"
    assert by_name["product_type"] == "personal_business_loan"
    text = "\n".join(",".join(row) for row in rows)
    assert "B00005" not in text and borrower_hash("B00005") not in text


def test_csv_export_of_all_rows(seller_client, package):
    assert import_tape(package, tape_csv(loan_rows(450))).status == "succeeded"

    rows = _csv(seller_client, package)

    assert len(rows) == 451
    assert [row[0] for row in rows[1:]] == [f"L{n:05d}" for n in range(1, 451)]


def test_only_the_current_tapes_loans_are_listed(seller_client, loaded_package):
    rows = [loan_row(90), loan_row(91, currency="USD")]
    assert import_via_api(seller_client, loaded_package.pk, tape_csv(rows))["status"] == "failed"

    assert len(_loan_ids(seller_client, loaded_package)) == len(PORTFOLIO)


def test_data_room_grant_is_idempotent(buyer_org, approved_package):
    for _ in range(2):
        services.data_room_grant(
            actor=None,
            package_id=approved_package.pk,
            organization_id=buyer_org.pk,
            reason="test",
        )

    assert (
        DataRoomGrant.objects.filter(package=approved_package, organization=buyer_org).count() == 1
    )
    (event,) = audit_events(approved_package.pk, "data_room.granted")
    assert event.data == {"organization_id": buyer_org.pk, "reason": "test"}


def test_owner_me_lists_the_callers_loans_without_a_grant(
    bidder_client, buyer_org, approved_package
):
    Loan.objects.filter(package=approved_package, loan_id__in=["L00002", "L00005"]).update(
        owner=buyer_org
    )

    assert _loan_ids(bidder_client, approved_package, "owner=me") == ["L00002", "L00005"]
    assert _loan_ids(bidder_client, approved_package, "owner=me&region=Seoul") == ["L00005"]
    # Without owner=me the buyer still needs a grant.
    assert_problem(bidder_client.get(_loans_url(approved_package)), 403, "nda_required")


def test_owner_me_is_empty_for_a_non_owner(other_bank_client, buyer_org, approved_package):
    Loan.objects.filter(package=approved_package).update(owner=buyer_org)

    assert _loan_ids(other_bank_client, approved_package, "owner=me") == []
    assert AuditEvent.objects.filter(action="data_room.accessed").count() == 1


def test_a_suspended_buyer_neither_reads_nor_exports_the_data_room(
    bidder_client, buyer_org, compliance_user, approved_package
):
    """Issue 11, item 10: a buyer suspended after it accepted the NDA kept reading and exporting
    the loan rows (it may not bid, and may not study the data room either)."""
    services.data_room_grant(
        actor=None, package_id=approved_package.pk, organization_id=buyer_org.pk, reason="test"
    )
    assert _loan_ids(bidder_client, approved_package)  # granted: it reads
    accessed = AuditEvent.objects.filter(action="data_room.accessed").count()
    account_services.organization_suspend(actor=compliance_user, organization_id=buyer_org.pk)

    for query in ("", "?format=csv"):
        response = bidder_client.get(_loans_url(approved_package) + query)
        assert_problem(response, 403, "permission_denied")
    assert AuditEvent.objects.filter(action="data_room.accessed").count() == accessed

    # Approved again, it reads again; the loans it owns it reads throughout.
    account_services.organization_approve(actor=compliance_user, organization_id=buyer_org.pk)
    assert _loan_ids(bidder_client, approved_package)


def test_a_suspended_buyer_still_lists_the_loans_it_owns(
    bidder_client, buyer_org, compliance_user, approved_package
):
    Loan.objects.filter(package=approved_package, loan_id="L00002").update(owner=buyer_org)
    account_services.organization_suspend(actor=compliance_user, organization_id=buyer_org.pk)

    assert _loan_ids(bidder_client, approved_package, "owner=me") == ["L00002"]
