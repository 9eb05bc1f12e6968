"""Every error is application/problem+json with a stable ``code`` (API.md, Conventions and
"Error codes"), whether DRF, a service or Django itself raised it; bad input never gets a 500."""

from __future__ import annotations

import functools

import pytest
from django.test import RequestFactory
from rest_framework import exceptions as drf

from marketplace.accounts.api import MeView
from marketplace.accounts.models import Organization
from marketplace.common import errors
from tests.support import assert_problem as shared_assert_problem

pytestmark = pytest.mark.django_db

ORGS = "/api/v1/organizations/"
# Here every problem says whether it carries ``errors``: none unless the test says so.
assert_problem = functools.partial(shared_assert_problem, with_errors=False)


# --------------------------------------------------------------------------- 400


def test_validation_error_maps_fields_to_messages(admin_client):
    response = admin_client.post(ORGS, {"kind": "insurer"}, format="json")

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert set(body["errors"]) == {"name", "kind"}
    assert all(
        isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
        for messages in body["errors"].values()
    )
    assert body["detail"].split(":")[0] in body["errors"]


def test_domain_validation_error_has_the_same_shape(admin_client):
    response = admin_client.post(ORGS, {"name": "AMC", "kind": "buyer"}, format="json")

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert body["errors"] == {"licence_type": ["Buyer organisations need a licence type."]}
    assert body["detail"] == "Buyer organisations need a licence type."


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "Broken', b"{'name': 'single quotes'}", b"\xff\xfe not utf-8"],
    ids=["truncated", "not-json", "bad-encoding"],
)
def test_malformed_json_is_a_validation_error(admin_client, raw):
    count = Organization.objects.count()

    response = admin_client.post(ORGS, raw, content_type="application/json")

    body = assert_problem(response, 400, "validation_error")
    assert body["detail"].startswith("Malformed request body")
    assert Organization.objects.count() == count


def test_json_that_is_not_an_object_is_a_validation_error(admin_client):
    response = admin_client.post(ORGS, [1, 2], format="json")

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert list(body["errors"]) == ["non_field_errors"]


def test_invalid_filter_value_is_a_validation_error(admin_client):
    response = admin_client.get(ORGS, {"kind": "insurer"})

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert "kind" in body["errors"]


# --------------------------------------------------------------------------- 401, 403


def test_no_token_is_401(api):
    body = assert_problem(api.get("/api/v1/me/"), 401, "not_authenticated")
    assert body["detail"] == "Authentication credentials were not provided."


def test_wrong_password_is_401(api, bidder_user):
    response = api.post(
        "/api/v1/auth/token/",
        {"username": bidder_user.username, "password": "nope-nope"},
        format="json",
    )

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_missing_role_is_403(seller_client):
    body = assert_problem(seller_client.get(ORGS), 403, "permission_denied")
    assert body["detail"] == "Your role may not perform this action."


# --------------------------------------------------------------------------- 404


@pytest.mark.parametrize(
    "path",
    [f"{ORGS}999999/", f"{ORGS}not-a-number/", "/api/v1/nope/", "/nope", "/api/v2/me/"],
    ids=["missing-object", "non-numeric-id", "unknown-api-url", "unknown-url", "unknown-version"],
)
def test_not_found_is_problem_json_inside_and_outside_drf(admin_client, path):
    assert_problem(admin_client.get(path), 404, "not_found")


def test_unknown_url_is_404_without_a_token_too(api):
    assert_problem(api.post("/api/v1/nope/", {}, format="json"), 404, "not_found")


@pytest.mark.parametrize("page", ["999", "abc"])
def test_page_out_of_range_is_404(admin_client, page):
    assert_problem(admin_client.get(ORGS, {"page": page}), 404, "not_found")


# --------------------------------------------------------------------------- 405


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/api/v1/me/", "GET"),
        ("put", f"{ORGS}{{own}}/", "GET"),
        ("get", "/api/v1/auth/logout/", "POST"),
    ],
    ids=["DELETE-me", "PUT-organization", "GET-logout"],
)
def test_wrong_method_is_405(bidder_client, bidder_user, method, path, allowed):
    url = path.format(own=bidder_user.organization_id)

    response = getattr(bidder_client, method)(url, {}, format="json")

    body = assert_problem(response, 405, "method_not_allowed")
    assert method.upper() in body["detail"]
    assert allowed in response["Allow"]


def test_wrong_method_without_token_is_401_first(api):
    assert_problem(api.delete("/api/v1/me/"), 401, "not_authenticated")


def test_get_on_the_token_endpoint_is_405(api):
    assert_problem(api.get("/api/v1/auth/token/"), 405, "method_not_allowed")


# --------------------------------------------------------------------------- 409


def test_approving_an_approved_buyer_is_409(compliance_client, buyer_org):
    response = compliance_client.post(f"{ORGS}{buyer_org.pk}/approve/", format="json")

    body = assert_problem(response, 409, "invalid_state")
    assert body["current_status"] == "approved"
    assert "approved" in body["detail"]


def test_suspending_a_pending_buyer_is_409(compliance_client, pending_buyer_org):
    response = compliance_client.post(f"{ORGS}{pending_buyer_org.pk}/suspend/", format="json")

    body = assert_problem(response, 409, "invalid_state")
    assert body["current_status"] == "pending"
    pending_buyer_org.refresh_from_db()
    assert pending_buyer_org.eligibility == "pending"


# --------------------------------------------------------------------------- 415


@pytest.mark.parametrize(
    ("path", "client_fixture"),
    [(ORGS, "admin_client"), ("/api/v1/auth/token/", "api")],
)
def test_unsupported_media_type_is_415(request, path, client_fixture):
    client = request.getfixturevalue(client_fixture)
    count = Organization.objects.count()

    response = client.post(path, "name=Text Bank&kind=bank", content_type="text/plain")

    body = assert_problem(response, 415, "unsupported_media_type")
    assert "text/plain" in body["detail"]
    assert Organization.objects.count() == count


# --------------------------------------------------------------------------- 500


def test_an_unexpected_exception_is_a_problem_json_500_without_internals(admin_client, monkeypatch):
    def explode(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(MeView, "get", explode)
    admin_client.raise_request_exception = False

    response = admin_client.get("/api/v1/me/")

    body = assert_problem(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert body["detail"] == "Internal server error."


# --------------------------------------------------------------------------- the handler itself


def test_exception_handler_keeps_retry_after_for_throttling():
    response = errors.exception_handler(drf.Throttled(wait=7), {})

    body = assert_problem(response, 429, "throttled")
    assert response["Retry-After"] == "7"
    assert body["detail"].startswith("Request was throttled")


def test_exception_handler_passes_domain_codes_and_extra_fields_through():
    exc = errors.DomainError(
        "Bid too low.", code="bid_too_low", status_code=409, extra={"minimum_bid": "100.00"}
    )

    response = errors.exception_handler(exc, {})

    body = assert_problem(response, 409, "bid_too_low")
    assert body["detail"] == "Bid too low."
    assert body["minimum_bid"] == "100.00"


def test_exception_handler_flattens_nested_validation_errors():
    exc = drf.ValidationError(
        {"items": [{}, {"amount": ["Too low."]}], "seller": {"id": ["Required."]}}
    )

    body = assert_problem(
        errors.exception_handler(exc, {}), 400, "validation_error", with_errors=True
    )

    assert body["errors"] == {"items.1.amount": ["Too low."], "seller.id": ["Required."]}
    assert body["detail"] == "items.1.amount: Too low."


def test_exception_handler_leaves_unknown_exceptions_to_django():
    assert errors.exception_handler(RuntimeError("bug"), {}) is None


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (errors.handler400, 400, "validation_error"),
        (errors.handler403, 403, "permission_denied"),
        (errors.handler404, 404, "not_found"),
    ],
)
def test_django_level_handlers_answer_problem_json(handler, status, code):
    assert_problem(handler(RequestFactory().get("/x"), Exception()), status, code)


def test_every_documented_error_code_is_known_to_the_handler():
    contract = {
        "not_authenticated",
        "permission_denied",
        "not_found",
        "validation_error",
        "invalid_value",
        "invalid_state",
        "idempotency_key_reused",
        "idempotency_key_in_flight",
        "throttled",
    }

    assert contract <= set(errors.ERROR_CODES)
    assert errors.ERROR_CODES["invalid_state"][0] == 409
    assert errors.ERROR_CODES["idempotency_key_reused"][0] == 422
