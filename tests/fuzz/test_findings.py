"""Regression tests for what probing and fuzzing the API found: inputs that used to answer 500
(a server error) now answer 400 problem+json and change nothing (API.md: "No request ever gets a
500 for bad input")."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from marketplace.accounts.models import Organization
from tests.support import assert_problem

pytestmark = pytest.mark.django_db


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


# ------------------------------------------------------------------- deeply nested JSON


@pytest.mark.parametrize("depth", [100_000, 2_000, 65])
def test_deeply_nested_json_on_login_is_400(api, depth):
    response = api.post("/api/v1/auth/token/", nested(depth), content_type="application/json")

    body = assert_problem(response, 400, "validation_error")
    assert body["detail"].startswith("Malformed request body")


def test_deeply_nested_json_is_400_on_an_authenticated_endpoint_and_changes_nothing(
    admin_client,
):
    count = Organization.objects.count()
    deep_list = b"[" * 50_000 + b"]" * 50_000

    response = admin_client.post(
        "/api/v1/organizations/", deep_list, content_type="application/json"
    )

    assert_problem(response, 400, "validation_error")
    assert Organization.objects.count() == count


def test_json_nested_within_the_bound_is_parsed(admin_client):
    # 32 levels are well within the bound: the body parses and is refused for its content.
    body = {"name": "AMC", "kind": "buyer", "extra": json.loads(nested(30))}

    response = admin_client.post("/api/v1/organizations/", body, format="json")

    assert_problem(response, 400, "validation_error", with_errors=True)
    assert "licence_type" in response.json()["errors"]


# ------------------------------------------------------------------- date-time filters


DATE_TIME_FILTERS = [
    ("/api/v1/auctions/", "ends_after"),
    ("/api/v1/auctions/", "ends_before"),
    ("/api/v1/settlements/", "due_before"),
    ("/api/v1/audit-events/", "occurred_after"),
    ("/api/v1/audit-events/", "occurred_before"),
    ("/api/v1/transfers/", "transferred_after"),
    ("/api/v1/transfers/", "transferred_before"),
    ("/api/v1/ledger/entries/", "created_after"),
    ("/api/v1/ledger/entries/", "created_before"),
]


@pytest.mark.parametrize(("path", "name"), DATE_TIME_FILTERS)
@pytest.mark.parametrize("offset", ["+16:00", "-23:59", "+15:59"])
def test_date_time_filters_take_any_valid_offset(admin_client, path, name, offset):
    response = admin_client.get(path, {name: f"2026-06-01T12:00:00{offset}"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("path", "name"), DATE_TIME_FILTERS)
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+23:00"])
def test_date_time_filters_out_of_range_once_in_utc_are_400(admin_client, path, name, value):
    response = admin_client.get(path, {name: value})

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert name in body["errors"]


def test_an_offset_filter_means_the_same_instant_as_in_utc(admin_client, auction_open):
    ends = auction_open.ends_at
    same_instant = ends.astimezone(dt.timezone(dt.timedelta(hours=20)))

    before = admin_client.get("/api/v1/auctions/", {"ends_before": same_instant.isoformat()})
    after = admin_client.get("/api/v1/auctions/", {"ends_after": same_instant.isoformat()})

    assert auction_open.pk not in [a["id"] for a in before.json()["results"]]
    assert auction_open.pk in [a["id"] for a in after.json()["results"]]


# ------------------------------------------------------------------- NUL characters


def test_nul_in_the_audit_verify_stream_is_400(compliance_client):
    response = compliance_client.get("/api/v1/audit-events/verify/", {"stream": "auction:1\x00"})

    body = assert_problem(response, 400, "invalid_value", with_errors=True)
    assert body["errors"] == {"stream": ["NUL characters are not allowed."]}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/packages/", "search"),
        ("/api/v1/packages/", "currency"),
        ("/api/v1/audit-events/", "action"),
        ("/api/v1/audit-events/", "object_id"),
        ("/api/v1/ledger/balances/", "currency"),
        ("/api/v1/auctions/", "ordering"),
        ("/api/v1/auctions/", "unknown\x00name"),
    ],
)
def test_nul_in_any_query_parameter_is_400(admin_client, path, name):
    response = admin_client.get(f"{path}?{name.replace(chr(0), '%00')}=a%00b")

    assert_problem(response, 400, "invalid_value", with_errors=True)


def test_nul_in_a_body_string_is_400_and_changes_nothing(admin_client):
    count = Organization.objects.count()

    response = admin_client.post(
        "/api/v1/organizations/", {"name": "Bad\x00Name", "kind": "bank"}, format="json"
    )

    body = assert_problem(response, 400, "validation_error", with_errors=True)
    assert "name" in body["errors"]
    assert Organization.objects.count() == count


def test_nul_in_a_login_username_is_400(api):
    response = api.post(
        "/api/v1/auth/token/", {"username": "a\x00", "password": "x"}, format="json"
    )

    assert_problem(response, 400, "validation_error", with_errors=True)


@pytest.mark.parametrize(
    ("header", "name"),
    [("HTTP_IDEMPOTENCY_KEY", "Idempotency-Key"), ("HTTP_X_REQUEST_ID", "X-Request-Id")],
)
def test_nul_in_a_header_is_400_and_changes_nothing(admin_client, header, name):
    response = admin_client.post(
        "/api/v1/organizations/",
        {"name": "AMC", "kind": "bank"},
        format="json",
        **{header: "key\x00"},
    )

    body = assert_problem(response, 400, "invalid_value", with_errors=True)
    assert body["errors"] == {name: ["NUL characters are not allowed."]}
    assert not Organization.objects.filter(name="AMC").exists()


def test_nul_in_a_token_is_400(api):
    api.credentials(HTTP_AUTHORIZATION="Token abc\x00def")

    response = api.get("/api/v1/me/")

    body = assert_problem(response, 400, "invalid_value", with_errors=True)
    assert list(body["errors"]) == ["Authorization"]
