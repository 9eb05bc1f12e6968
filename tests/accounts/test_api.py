"""HTTP API of accounts: tokens, /me/, organisations, members and buyer eligibility."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from marketplace.accounts import services
from marketplace.accounts.authentication import TokenAuthentication
from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import PASSWORD, OrganizationFactory, UserFactory
from tests.support import assert_problem

pytestmark = pytest.mark.django_db

ORGS = "/api/v1/organizations/"


def login(username: str, password: str) -> tuple[APIClient, dict]:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    return client, response


def org_events(org_id: int, action: str | None = None):
    events = AuditEvent.objects.filter(stream=f"organization:{org_id}")
    return events.filter(action=action) if action else events


# --------------------------------------------------------------------------- tokens


def test_token_endpoint_issues_an_expiring_token_stored_hashed(bidder_user):
    _, response = login(bidder_user.username, PASSWORD)

    assert response.status_code == 200
    body = response.json()
    secret = body["token"]
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires_at.utcoffset() == timedelta(0)
    assert timezone.now() + timedelta(hours=11) < expires_at <= timezone.now() + timedelta(hours=12)
    [row] = AuthToken.objects.filter(user=bidder_user).values()
    assert row["digest"] == hash_token(secret)
    assert all(secret not in str(value) for value in row.values())
    assert AuditEvent.objects.filter(
        stream=f"user:{bidder_user.pk}", action="token.issued"
    ).exists()


@pytest.mark.parametrize(
    ("username", "password"),
    [("bidder", "wrong-password"), ("nobody", PASSWORD), ("BIDDER", PASSWORD)],
    ids=["wrong-password", "unknown-user", "wrong-case"],
)
def test_token_endpoint_refuses_bad_credentials_with_401(buyer_org, username, password):
    UserFactory(organization=buyer_org, role="bidder", username="bidder")

    _, response = login(username, password)

    body = assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert "token" not in body
    assert not AuthToken.objects.exists()


def test_token_endpoint_refuses_inactive_users_and_users_without_organisation(buyer_org):
    UserFactory(organization=buyer_org, role="bidder", username="gone", is_active=False)
    User.objects.create_superuser("shell", password=PASSWORD)

    for username in ("gone", "shell"):
        _, response = login(username, PASSWORD)
        assert_problem(response, 401, "not_authenticated")
    assert not AuthToken.objects.exists()


def test_token_endpoint_validates_its_body(db):
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert set(body["errors"]) == {"username", "password"}


def test_expired_token_is_refused(bidder_client, bidder_user):
    AuthToken.objects.filter(user=bidder_user).update(expiry=timezone.now() - timedelta(seconds=1))

    response = bidder_client.get("/api/v1/me/")

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_logout_revokes_only_the_token_used(bidder_user):
    first = client_for(bidder_user)
    second = client_for(bidder_user)

    response = first.post("/api/v1/auth/logout/")

    assert response.status_code == 204
    assert_problem(first.get("/api/v1/me/"), 401, "not_authenticated")
    assert_problem(first.post("/api/v1/auth/logout/"), 401, "not_authenticated")
    assert second.get("/api/v1/me/").status_code == 200
    assert AuthToken.objects.filter(user=bidder_user).count() == 1
    assert (
        AuditEvent.objects.filter(stream=f"user:{bidder_user.pk}", action="token.revoked").count()
        == 1
    )


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token not-a-real-token", "Token " + "0" * 64],
    ids=["no-key", "spaces", "garbage", "unknown-key"],
)
def test_malformed_or_unknown_token_is_refused(bidder_user, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_problem(client.get("/api/v1/me/"), 401, "not_authenticated")


NOT_UTF8 = "Token \xe9" + "a" * 63  # headers are Latin-1: any client can send these bytes


def test_token_that_is_not_utf8_is_401_not_500(db):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=NOT_UTF8)

    assert_problem(client.get("/api/v1/me/"), 401, "not_authenticated")


def test_our_token_authentication_refuses_a_token_that_is_not_utf8(db):
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=NOT_UTF8))

    with pytest.raises(AuthenticationFailed):
        TokenAuthentication().authenticate(request)


def test_our_token_authentication_accepts_a_valid_token(bidder_user):
    token, secret = services.token_issue(user=bidder_user)
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {secret}"))

    user, auth = TokenAuthentication().authenticate(request)

    assert (user.pk, auth.pk) == (bidder_user.pk, token.pk)


# --------------------------------------------------------------------------- me


@pytest.mark.parametrize(
    ("client_fixture", "role", "kind", "eligibility"),
    [
        ("admin_client", "platform_admin", "platform", "approved"),
        ("compliance_client", "compliance_officer", "platform", "approved"),
        ("seller_client", "disposal_officer", "bank", "approved"),
        ("bidder_client", "bidder", "buyer", "approved"),
    ],
)
def test_me_describes_the_caller(request, client_fixture, role, kind, eligibility):
    client = request.getfixturevalue(client_fixture)
    user = client.user

    response = client.get("/api/v1/me/")

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == user.username
    assert body["role"] == role
    assert body["organization"] == {
        "id": user.organization_id,
        "name": user.organization.name,
        "kind": kind,
        "eligibility": eligibility,
    }


def test_me_shows_a_pending_buyer_its_eligibility(pending_buyer_org):
    client = client_for(UserFactory(organization=pending_buyer_org, role="bidder"))

    assert client.get("/api/v1/me/").json()["organization"]["eligibility"] == "pending"


# --------------------------------------------------------------------------- organisations


def test_organization_list_is_paginated(admin_client, platform_org):
    OrganizationFactory.create_batch(4)

    first = admin_client.get(ORGS, {"page_size": 2})
    second = admin_client.get(first.json()["next"])

    assert first.status_code == 200
    page = first.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 5
    assert page["previous"] is None
    assert "page=2" in page["next"]
    assert [o["id"] for o in page["results"]] == sorted(o["id"] for o in page["results"])
    assert len(page["results"]) == 2
    assert second.json()["previous"] is not None
    assert {o["id"] for o in page["results"]}.isdisjoint(o["id"] for o in second.json()["results"])


def test_organization_page_size_is_capped_at_200(admin_client, platform_org):
    Organization.objects.bulk_create(
        Organization(name=f"Bulk {i}", kind="bank", eligibility="approved") for i in range(205)
    )

    response = admin_client.get(ORGS, {"page_size": 1000})

    body = response.json()
    assert body["count"] == 206
    assert len(body["results"]) == 200
    assert body["next"] is not None


def test_organization_list_filters_and_orders(admin_client, platform_org, bank_org, buyer_org):
    response = admin_client.get(ORGS, {"kind": "buyer"})
    assert [o["id"] for o in response.json()["results"]] == [buyer_org.pk]

    response = admin_client.get(ORGS, {"ordering": "-id"})
    ids = [o["id"] for o in response.json()["results"]]
    assert ids == sorted([platform_org.pk, bank_org.pk, buyer_org.pk], reverse=True)


@pytest.mark.parametrize(
    ("payload", "eligibility"),
    [
        ({"name": "New Bank", "kind": "bank", "registration_number": "B-1"}, "approved"),
        ({"name": "New AMC", "kind": "buyer", "licence_type": "local_amc"}, "pending"),
    ],
)
def test_create_organization(admin_client, admin_user, payload, eligibility):
    response = admin_client.post(ORGS, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == payload["name"]
    assert body["kind"] == payload["kind"]
    assert body["eligibility"] == eligibility
    assert body["licence_type"] == payload.get("licence_type", "")
    org = Organization.objects.get(pk=body["id"])
    assert org.eligibility == eligibility
    [event] = org_events(org.pk)
    assert event.action == "organization.created"
    assert event.actor_user_id == admin_user.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Buyer", "kind": "buyer"}, "licence_type"),
        ({"name": "Buyer", "kind": "buyer", "licence_type": "hedge_fund"}, "licence_type"),
        ({"name": "Bank", "kind": "bank", "licence_type": "local_amc"}, "licence_type"),
        ({"name": "Platform", "kind": "bank"}, "name"),
        ({"name": "Insurer", "kind": "insurer"}, "kind"),
        ({"kind": "bank"}, "name"),
        ({"name": "x" * 201, "kind": "bank"}, "name"),
        ({"name": "Nul\x00Bank", "kind": "bank"}, "name"),
    ],
    ids=[
        "buyer-without-licence",
        "unknown-licence",
        "bank-with-licence",
        "duplicate-name",
        "bad-kind",
        "missing-name",
        "long-name",
        "nul-in-name",
    ],
)
def test_create_organization_refuses_invalid_input(admin_client, platform_org, payload, field):
    count = Organization.objects.count()

    response = admin_client.post(ORGS, payload, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert Organization.objects.count() == count


def test_organization_detail_for_its_own_members(seller_client, bank_org):
    response = seller_client.get(f"{ORGS}{bank_org.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == bank_org.pk
    assert response.json()["name"] == bank_org.name


# --------------------------------------------------------------------------- members


def test_create_member_who_can_then_log_in(admin_client, admin_user, bank_org):
    response = admin_client.post(
        f"{ORGS}{bank_org.pk}/members/",
        {"username": "new.officer", "password": "a-good-passphrase", "role": "disposal_officer"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "new.officer"
    assert body["role"] == "disposal_officer"
    assert body["organization"] == bank_org.pk
    assert "password" not in body
    [event] = org_events(bank_org.pk, "user.created")
    assert event.actor_user_id == admin_user.pk

    client, login_response = login("new.officer", "a-good-passphrase")
    assert login_response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {login_response.json()['token']}")
    me = client.get("/api/v1/me/").json()
    assert me["role"] == "disposal_officer"
    assert me["organization"]["id"] == bank_org.pk


@pytest.mark.parametrize(
    ("kind", "role"),
    [
        ("bank", "bidder"),
        ("bank", "compliance_officer"),
        ("buyer", "disposal_officer"),
        ("buyer", "platform_admin"),
        ("platform", "bidder"),
        ("platform", "disposal_officer"),
    ],
)
def test_create_member_role_must_fit_the_organisation_kind(admin_client, kind, role):
    org = OrganizationFactory(kind=kind)

    response = admin_client.post(
        f"{ORGS}{org.pk}/members/",
        {"username": "misfit", "password": "a-good-passphrase", "role": role},
        format="json",
    )

    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == ["role"]
    assert not User.objects.filter(username="misfit").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "Taken", "password": "a-good-passphrase"}, "username"),
        ({"username": "fresh", "password": "short"}, "password"),
        ({"username": "has space", "password": "a-good-passphrase"}, "username"),
        ({"username": "fresh", "password": "a-good-passphrase", "role": "ceo"}, "role"),
        ({"password": "a-good-passphrase"}, "username"),
        # Issue 11, item 10: these were accepted with only the length rule.
        ({"username": "fresh", "password": "12345678"}, "password"),
        ({"username": "freshofficer", "password": "freshofficer"}, "password"),
        ({"username": "fresh", "password": "password123"}, "password"),
    ],
    ids=[
        "duplicate-username",
        "short-password",
        "bad-username",
        "unknown-role",
        "no-username",
        "numeric-password",
        "password-is-the-username",
        "common-password",
    ],
)
def test_create_member_refuses_invalid_input(admin_client, bank_org, payload, field):
    UserFactory(organization=bank_org, username="taken")
    count = User.objects.count()

    response = admin_client.post(
        f"{ORGS}{bank_org.pk}/members/",
        {"role": "disposal_officer", **payload},
        format="json",
    )

    body = assert_problem(response, 400, "validation_error")
    assert field in body["errors"]
    assert User.objects.count() == count


def test_create_member_in_unknown_organisation_is_404(admin_client):
    response = admin_client.post(
        f"{ORGS}999999/members/",
        {"username": "ghost", "password": "a-good-passphrase", "role": "bidder"},
        format="json",
    )

    assert_problem(response, 404, "not_found")
    assert not User.objects.filter(username="ghost").exists()


# --------------------------------------------------------------------------- eligibility

# (start, action, status, end): API.md pending -> approved | rejected; approved -> suspended ->
# approved. Anything else is 409 invalid_state and changes nothing.
TRANSITIONS = [
    ("pending", "approve", 200, "approved"),
    ("pending", "reject", 200, "rejected"),
    ("pending", "suspend", 409, "pending"),
    ("approved", "approve", 409, "approved"),
    ("approved", "reject", 409, "approved"),
    ("approved", "suspend", 200, "suspended"),
    ("suspended", "approve", 200, "approved"),
    ("suspended", "reject", 409, "suspended"),
    ("suspended", "suspend", 409, "suspended"),
    ("rejected", "approve", 409, "rejected"),
    ("rejected", "reject", 409, "rejected"),
    ("rejected", "suspend", 409, "rejected"),
]


@pytest.mark.parametrize(("start", "action", "status", "end"), TRANSITIONS)
def test_eligibility_transition(compliance_client, compliance_user, start, action, status, end):
    org = OrganizationFactory(kind="buyer", eligibility=start)

    response = compliance_client.post(
        f"{ORGS}{org.pk}/{action}/", {"reason": "licence checked"}, format="json"
    )

    org.refresh_from_db()
    assert org.eligibility == end
    if status == 200:
        assert response.status_code == 200, response.content
        assert response.json()["eligibility"] == end
        assert response.json()["eligibility_reason"] == "licence checked"
        [event] = org_events(org.pk)
        assert event.action == f"organization.{end}"
        assert event.actor_user_id == compliance_user.pk
        assert event.data == {"from": start, "to": end, "reason": "licence checked"}
    else:
        body = assert_problem(response, 409, "invalid_state")
        assert body["current_status"] == start
        assert org.eligibility_reason == ""
        assert not org_events(org.pk).exists()


def test_suspended_buyer_can_be_approved_again(compliance_client, buyer_org):
    suspended = compliance_client.post(f"{ORGS}{buyer_org.pk}/suspend/", {}, format="json")
    approved = compliance_client.post(f"{ORGS}{buyer_org.pk}/approve/", format="json")

    assert suspended.json()["eligibility"] == "suspended"
    assert approved.json()["eligibility"] == "approved"
    assert list(org_events(buyer_org.pk).values_list("action", flat=True)) == [
        "organization.suspended",
        "organization.approved",
    ]


@pytest.mark.parametrize("action", ["approve", "reject", "suspend"])
@pytest.mark.parametrize("org_fixture", ["bank_org", "platform_org"])
def test_eligibility_of_non_buyers_is_409(request, compliance_client, action, org_fixture):
    org = request.getfixturevalue(org_fixture)

    response = compliance_client.post(f"{ORGS}{org.pk}/{action}/", format="json")

    assert_problem(response, 409, "invalid_state")
    org.refresh_from_db()
    assert org.eligibility == "approved"
    assert not org_events(org.pk).exists()


def test_eligibility_of_unknown_organisation_is_404(compliance_client):
    assert_problem(compliance_client.post(f"{ORGS}999999/approve/"), 404, "not_found")


def test_eligibility_reason_is_validated(compliance_client, pending_buyer_org):
    response = compliance_client.post(
        f"{ORGS}{pending_buyer_org.pk}/reject/", {"reason": "x" * 2001}, format="json"
    )

    body = assert_problem(response, 400, "validation_error")
    assert "reason" in body["errors"]
    pending_buyer_org.refresh_from_db()
    assert pending_buyer_org.eligibility == "pending"
