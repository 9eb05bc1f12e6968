"""Who sees a package's detail, stratification and loan rows (API.md, Visibility).

Drafts and pending packages: their seller and the platform only (others 404). Loan rows: the
seller, the platform, and buyers with a data-room grant (NDA accepted); others 403
``nda_required``. Every access to loan rows is an audit event.
"""

from __future__ import annotations

import pytest

from listings import services
from listings.models import Package, PackageStatus
from tests.listings.conftest import PORTFOLIO, assert_problem, audit_events, import_tape, tape_csv

pytestmark = pytest.mark.django_db

CALLERS = [
    "seller",
    "other_bank",
    "buyer",
    "granted_buyer",
    "compliance",
    "platform_admin",
]
CLIENT_FIXTURES = {
    "seller": "seller_client",
    "other_bank": "other_bank_client",
    "buyer": "bidder_client",
    "granted_buyer": "granted_buyer_client",
    "compliance": "compliance_client",
    "platform_admin": "admin_client",
}
OK, HIDDEN, NDA = 200, 404, 403
PUBLIC = {"detail": OK, "stratification": OK}
HIDDEN_ALL = {"detail": HIDDEN, "stratification": HIDDEN, "loans": HIDDEN}
ALL = {"detail": OK, "stratification": OK, "loans": OK}

# status -> caller -> endpoint -> expected status code
MATRIX = {
    PackageStatus.DRAFT: {
        "seller": ALL,
        "other_bank": HIDDEN_ALL,
        "buyer": HIDDEN_ALL,
        "granted_buyer": HIDDEN_ALL,
        "compliance": ALL,
        "platform_admin": ALL,
    },
    PackageStatus.PENDING_REVIEW: {
        "seller": ALL,
        "other_bank": HIDDEN_ALL,
        "buyer": HIDDEN_ALL,
        "granted_buyer": HIDDEN_ALL,
        "compliance": ALL,
        "platform_admin": ALL,
    },
    PackageStatus.APPROVED: {
        "seller": ALL,
        "other_bank": {**PUBLIC, "loans": NDA},
        "buyer": {**PUBLIC, "loans": NDA},
        "granted_buyer": ALL,
        "compliance": ALL,
        "platform_admin": ALL,
    },
    PackageStatus.IN_AUCTION: {
        "seller": ALL,
        "other_bank": {**PUBLIC, "loans": NDA},
        "buyer": {**PUBLIC, "loans": NDA},
        "granted_buyer": ALL,
        "compliance": ALL,
        "platform_admin": ALL,
    },
    PackageStatus.WITHDRAWN: {
        "seller": ALL,
        "other_bank": HIDDEN_ALL,
        "buyer": HIDDEN_ALL,
        "granted_buyer": HIDDEN_ALL,
        "compliance": ALL,
        "platform_admin": ALL,
    },
}
CASES = [(status, caller) for status in MATRIX for caller in CALLERS]


def _url(package_id: int, endpoint: str) -> str:
    suffix = "" if endpoint == "detail" else f"{endpoint}/"
    return f"/api/v1/packages/{package_id}/{suffix}"


@pytest.mark.parametrize(("status", "caller"), CASES)
def test_visibility_matrix(request, loaded_package, granted_buyer_user, status, caller):
    services.data_room_grant(
        actor=None,
        package_id=loaded_package.pk,
        organization_id=granted_buyer_user.organization_id,
        reason="test",
    )
    Package.objects.filter(pk=loaded_package.pk).update(status=status)
    client = request.getfixturevalue(CLIENT_FIXTURES[caller])

    for endpoint in ("detail", "stratification", "loans"):
        expected = MATRIX[status][caller][endpoint]
        response = client.get(_url(loaded_package.pk, endpoint))
        if expected == OK:
            assert response.status_code == 200, (endpoint, response.content)
            body = response.json()
            if endpoint == "detail":
                assert body["id"] == loaded_package.pk and body["loan_count"] == len(PORTFOLIO)
            elif endpoint == "stratification":
                assert sum(row["loan_count"] for row in body["region"]) == len(PORTFOLIO)
            else:
                assert body["count"] == len(PORTFOLIO)
        elif expected == HIDDEN:
            assert_problem(response, 404, "not_found")
        else:
            assert_problem(response, 403, "nda_required")

    accessed = audit_events(loaded_package.pk, "data_room.accessed")
    assert len(accessed) == (1 if MATRIX[status][caller]["loans"] == OK else 0)


def test_grant_is_per_package(granted_buyer_client, granted_buyer_user, make_package):
    packages = []
    for title in ("granted", "not granted"):
        package = make_package(title=title)
        import_tape(package, tape_csv(PORTFOLIO))
        Package.objects.filter(pk=package.pk).update(status=PackageStatus.APPROVED)
        packages.append(package)
    services.data_room_grant(
        actor=None,
        package_id=packages[0].pk,
        organization_id=granted_buyer_user.organization_id,
        reason="test",
    )

    assert granted_buyer_client.get(_url(packages[0].pk, "loans")).status_code == 200
    assert_problem(granted_buyer_client.get(_url(packages[1].pk, "loans")), 403, "nda_required")


def test_unknown_package_is_404(seller_client):
    for endpoint in ("detail", "stratification", "loans"):
        assert_problem(seller_client.get(_url(987654, endpoint)), 404, "not_found")


def test_anonymous_is_401(api, approved_package):
    for endpoint in ("detail", "stratification", "loans"):
        assert_problem(api.get(_url(approved_package.pk, endpoint)), 401, "not_authenticated")


def test_loans_access_is_audited_with_filters_and_row_count(
    seller_client, seller_user, loaded_package
):
    response = seller_client.get(
        _url(loaded_package.pk, "loans") + "?region=Seoul&min_days_past_due=100&page_size=1"
    )
    assert response.status_code == 200
    assert response.json()["count"] == 2  # loans 3 and 5

    (event,) = audit_events(loaded_package.pk, "data_room.accessed")
    assert event.data["filters"] == {
        "region": "Seoul",
        "min_days_past_due": "100",
        "page_size": "1",
    }
    assert event.data["row_count"] == 1  # rows returned on this page
    assert event.data["format"] == "json"
    assert event.actor_user_id == seller_user.pk
    assert event.actor_organization_id == seller_user.organization_id


def test_csv_export_is_audited_with_its_row_count(
    granted_buyer_client, granted_buyer_user, approved_package
):
    services.data_room_grant(
        actor=None,
        package_id=approved_package.pk,
        organization_id=granted_buyer_user.organization_id,
        reason="test",
    )

    response = granted_buyer_client.get(
        _url(approved_package.pk, "loans") + "?format=csv&product_type=credit_card"
    )
    body = b"".join(response.streaming_content).decode()

    assert response.status_code == 200
    assert len(body.strip().splitlines()) == 1 + 3
    (event,) = audit_events(approved_package.pk, "data_room.accessed")
    assert event.data == {
        "filters": {"format": "csv", "product_type": "credit_card"},
        "row_count": 3,
        "format": "csv",
    }
    assert event.actor_organization_id == granted_buyer_user.organization_id


def test_refused_loans_access_changes_nothing(bidder_client, approved_package):
    assert_problem(bidder_client.get(_url(approved_package.pk, "loans")), 403, "nda_required")
    assert_problem(
        bidder_client.get(_url(approved_package.pk, "loans") + "?format=csv"), 403, "nda_required"
    )

    assert audit_events(approved_package.pk, "data_room.accessed") == []
