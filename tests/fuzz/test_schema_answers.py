"""The served schema documents the answers the API gives whatever the view (issue: it omitted
400 for an empty Idempotency-Key, 404 for ?page=0, text/csv for ?format=csv, the NUL-free
strings and the numeric bounds it enforces). Each claim is checked against the live API too."""

from __future__ import annotations

import pytest

from tests.support import assert_problem

pytestmark = pytest.mark.django_db

SCHEMA = "/api/v1/schema/"
API = "/api/v1/"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get(SCHEMA).json()


def api_operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and path.startswith(API):
                yield path, method, operation


def paginated(operation) -> bool:
    content = operation["responses"]["200"].get("content", {}).get("application/json", {})
    return content.get("schema", {}).get("$ref", "").startswith("#/components/schemas/Paginated")


def test_every_operation_documents_the_answers_of_middleware_and_parsers(schema):
    missing = []
    for path, method, operation in api_operations(schema):
        expected = {"400", "503"}
        if path != "/api/v1/auth/token/":
            expected.add("401")
        if method in {"post", "patch", "put"}:
            expected.add("413")
        missing += [(method, path, s) for s in expected - set(operation["responses"])]

    assert missing == []


def test_every_paginated_list_documents_404_and_pages_from_1(schema):
    lists = [(p, op) for p, m, op in api_operations(schema) if m == "get" and paginated(op)]
    assert len(lists) >= 10

    for path, operation in lists:
        params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert params["page"]["schema"]["minimum"] == 1, path
        assert "page_size" in params, path
        assert "404" in operation["responses"], path


@pytest.mark.parametrize("page", ["0", "9999"])
def test_a_page_outside_the_list_is_a_documented_404(admin_client, schema, page):
    response = admin_client.get("/api/v1/auctions/", {"page": page})

    assert_problem(response, 404, "not_found")
    assert "404" in schema["paths"]["/api/v1/auctions/"]["get"]["responses"]


def test_every_csv_export_documents_text_csv(schema):
    exports = [
        (path, op)
        for path, method, op in api_operations(schema)
        for p in op.get("parameters", [])
        if p["name"] == "format" and "csv" in p["schema"].get("enum", [])
    ]
    assert {p for p, _ in exports} >= {
        "/api/v1/audit-events/",
        "/api/v1/transfers/",
        "/api/v1/transfers/{id}/loans/",
        "/api/v1/packages/{id}/loans/",
    }

    for path, operation in exports:
        assert "text/csv" in operation["responses"]["200"]["content"], path


def test_a_csv_export_answers_text_csv(compliance_client):
    response = compliance_client.get("/api/v1/audit-events/", {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_an_empty_idempotency_key_is_a_documented_400(seller_client, schema):
    response = seller_client.post(
        "/api/v1/packages/",
        {"title": "T", "currency": "CNY", "cut_off_date": "2026-09-30"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="",
    )

    assert_problem(response, 400, "validation_error", with_errors=True)
    for path, method, operation in api_operations(schema):
        if method == "post":
            assert "400" in operation["responses"], path


def test_rate_limited_operations_document_429(schema):
    paths = schema["paths"]

    for path in ("/api/v1/auth/token/", "/api/v1/auctions/{id}/bids/"):
        assert "429" in paths[path]["post"]["responses"], path
    assert "429" in paths["/api/v1/packages/{id}/loan-tape/"]["post"]["responses"]


def test_request_strings_are_documented_free_of_nul(schema):
    components = schema["components"]["schemas"]
    title = components["PackageCreateRequest"]["properties"]["title"]
    stream = next(
        p
        for p in schema["paths"]["/api/v1/audit-events/verify/"]["get"]["parameters"]
        if p["name"] == "stream"
    )

    assert title["pattern"] == "^[^\\u0000]*$"
    assert stream["schema"]["pattern"] == "^[^\\u0000]*$"
    # Enumerations and formatted strings keep their own rule.
    assert "pattern" not in components["PackageCreateRequest"]["properties"]["cut_off_date"]


def test_auction_terms_document_the_bounds_the_service_enforces(schema, seller_client):
    terms = schema["components"]["schemas"]["AuctionCreateRequest"]["properties"]

    assert (terms["payment_window_hours"]["minimum"], terms["payment_window_hours"]["maximum"]) == (
        0,
        720,
    )
    assert terms["soft_close_seconds"]["maximum"] == terms["extension_seconds"]["maximum"] == 86400

    response = seller_client.post("/api/v1/auctions/", {"payment_window_hours": 721}, format="json")
    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert "payment_window_hours" in body["errors"]


def test_links_lead_from_what_creates_or_lists_an_object_to_what_acts_on_it(schema):
    operation_ids = {op["operationId"] for _p, _m, op in api_operations(schema)}
    created = schema["paths"]["/api/v1/packages/"]["post"]["responses"]["201"]["links"]
    listed = schema["paths"]["/api/v1/auctions/"]["get"]["responses"]["200"]["links"]
    registered = schema["paths"]["/api/v1/auctions/{id}/registrations/"]["post"]["responses"]

    assert created["packages_submit_create"]["parameters"] == {"id": "$response.body#/id"}
    assert listed["auctions_bids_create"]["parameters"] == {"id": "$response.body#/results/0/id"}
    assert "registrations_confirm_deposit_create" in registered["201"]["links"]
    for _path, _method, operation in api_operations(schema):
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in operation_ids
