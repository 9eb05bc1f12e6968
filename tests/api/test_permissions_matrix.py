"""Who may call what (API.md, "Organisations, users, roles" and Conventions).

No token -> 401 ``not_authenticated``; a token without the right -> 403 ``permission_denied``; an
object the caller's organisation may not see -> 404 ``not_found``. The table below is the
contract, one row per endpoint, one column per caller; each cell is one test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from marketplace.accounts.models import Organization, User
from marketplace.audit.models import AuditEvent
from tests.conftest import client_for
from tests.factories import PASSWORD, OrganizationFactory

pytestmark = pytest.mark.django_db

ORGS = "/api/v1/organizations/"
ANONYMOUS = "anonymous"
ROLES = ["platform_admin", "compliance_officer", "disposal_officer", "bidder", ANONYMOUS]
CLIENT_FIXTURES = {
    "platform_admin": "admin_client",
    "compliance_officer": "compliance_client",
    "disposal_officer": "seller_client",
    "bidder": "bidder_client",
    ANONYMOUS: "api",
}
CODE_BY_STATUS = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
# A role each kind of organisation may hold, for member-creation requests that should succeed.
ROLE_FOR_KIND = {"bank": "disposal_officer", "buyer": "bidder", "platform": "compliance_officer"}


@dataclass
class Targets:
    """The objects a request is aimed at, seen from one caller."""

    own: Organization  # the caller's organisation (any organisation for anonymous callers)
    other: Organization  # an organisation the caller does not belong to
    pending_buyer: Organization
    approved_buyer: Organization
    unknown_id: int


def _members(client, org: Organization):
    username = f"member-{uuid.uuid4().hex[:8]}"
    return client.post(
        f"{ORGS}{org.pk}/members/",
        {"username": username, "password": "a-good-passphrase", "role": ROLE_FOR_KIND[org.kind]},
        format="json",
    )


REQUESTS: dict[str, Callable[[APIClient, Targets], object]] = {
    "POST auth/logout": lambda c, t: c.post("/api/v1/auth/logout/"),
    "GET me": lambda c, t: c.get("/api/v1/me/"),
    "GET organizations": lambda c, t: c.get(ORGS),
    "POST organizations": lambda c, t: c.post(
        ORGS, {"name": "Brand New Bank", "kind": "bank"}, format="json"
    ),
    "GET organizations/own": lambda c, t: c.get(f"{ORGS}{t.own.pk}/"),
    "GET organizations/other": lambda c, t: c.get(f"{ORGS}{t.other.pk}/"),
    "GET organizations/unknown": lambda c, t: c.get(f"{ORGS}{t.unknown_id}/"),
    "POST members/own": lambda c, t: _members(c, t.own),
    "POST members/other": lambda c, t: _members(c, t.other),
    "POST members/unknown": lambda c, t: c.post(
        f"{ORGS}{t.unknown_id}/members/",
        {"username": "ghost", "password": "a-good-passphrase", "role": "bidder"},
        format="json",
    ),
    "POST approve": lambda c, t: c.post(f"{ORGS}{t.pending_buyer.pk}/approve/"),
    "POST reject": lambda c, t: c.post(f"{ORGS}{t.pending_buyer.pk}/reject/"),
    "POST suspend": lambda c, t: c.post(f"{ORGS}{t.approved_buyer.pk}/suspend/"),
    "POST approve/unknown": lambda c, t: c.post(f"{ORGS}{t.unknown_id}/approve/"),
}

# fmt: off
#                                admin  compl  seller bidder anon
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "POST auth/logout":          (204,  204,   204,   204,   401),
    "GET me":                    (200,  200,   200,   200,   401),
    "GET organizations":         (200,  200,   403,   403,   401),
    "POST organizations":        (201,  201,   403,   403,   401),
    "GET organizations/own":     (200,  200,   200,   200,   401),
    "GET organizations/other":   (200,  200,   404,   404,   401),
    "GET organizations/unknown": (404,  404,   404,   404,   401),
    "POST members/own":          (201,  403,   403,   403,   401),
    "POST members/other":        (201,  403,   403,   403,   401),
    "POST members/unknown":      (404,  403,   403,   403,   401),
    "POST approve":              (403,  200,   403,   403,   401),
    "POST reject":               (403,  200,   403,   403,   401),
    "POST suspend":              (403,  200,   403,   403,   401),
    "POST approve/unknown":      (403,  404,   403,   403,   401),
}
# fmt: on

CASES = [
    pytest.param(endpoint, role, statuses[i], id=f"{endpoint}-{role}")
    for endpoint, statuses in MATRIX.items()
    for i, role in enumerate(ROLES)
]


@pytest.fixture
def targets_for(platform_org, pending_buyer_org):
    other = OrganizationFactory(kind="bank", name="Somebody Else's Bank")
    approved_buyer = OrganizationFactory(kind="buyer", eligibility="approved")

    def build(client) -> Targets:
        user = getattr(client, "user", None)
        return Targets(
            own=user.organization if user else other,
            other=other,
            pending_buyer=pending_buyer_org,
            approved_buyer=approved_buyer,
            unknown_id=Organization.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000,
        )

    return build


def _snapshot():
    return (
        Organization.objects.count(),
        User.objects.count(),
        AuditEvent.objects.count(),
        sorted(Organization.objects.values_list("pk", "eligibility")),
    )


def test_the_matrix_covers_every_endpoint_and_role():
    assert set(MATRIX) == set(REQUESTS)
    assert all(len(row) == len(ROLES) for row in MATRIX.values())


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES)
def test_access(request, targets_for, endpoint, role, expected):
    client = request.getfixturevalue(CLIENT_FIXTURES[role])
    targets = targets_for(client)
    before = _snapshot()

    response = REQUESTS[endpoint](client, targets)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == expected
        assert body["code"] == CODE_BY_STATUS[expected]
        # A refused request changes nothing and leaves no audit trail of a change.
        assert _snapshot() == before
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"
    if endpoint == "GET organizations/own" and expected == 200:
        assert response.json()["id"] == targets.own.pk


@pytest.mark.parametrize("role", ROLES[:-1])
def test_every_role_can_obtain_a_token_without_one(request, role):
    user = request.getfixturevalue(CLIENT_FIXTURES[role]).user
    client = APIClient()

    response = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/me/").json()["role"] == role


def test_token_endpoint_ignores_a_stale_authorization_header(bidder_user):
    client = client_for(bidder_user)
    client.post("/api/v1/auth/logout/")

    response = client.post(
        "/api/v1/auth/token/",
        {"username": bidder_user.username, "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 200
    assert "token" in response.json()


@pytest.mark.parametrize("role", ["disposal_officer", "bidder"])
def test_other_orgs_and_missing_ids_look_alike_to_non_platform_users(request, role):
    client = request.getfixturevalue(CLIENT_FIXTURES[role])
    others = OrganizationFactory.create_batch(3, kind="buyer")

    statuses = {client.get(f"{ORGS}{org.pk}/").status_code for org in others}

    # Other organisations and missing ids answer alike, so ids cannot be probed.
    assert statuses == {404}
    assert client.get(f"{ORGS}{max(o.pk for o in others) + 1}/").status_code == 404
