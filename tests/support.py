"""Assertions and builders shared by every test module (one definition each).

``assert_problem`` checks the whole problem+json contract of API.md ("Conventions"); the
builders create what a test needs through the services, the way the product does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from bidding.models import Auction
from listings import services as listing_services
from listings.models import Package
from marketplace.accounts.models import User

PROBLEM = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
CUT_OFF = dt.date(2026, 9, 30)
PASSWORD = "correct-horse-battery"


def assert_problem(response, status: int, code: str, *, with_errors: bool | None = None) -> dict:
    """``response`` is an RFC 9457 problem of ``status`` with the stable ``code``; returns its
    body. ``with_errors``: True when the field ``errors`` must be there, False when it must not,
    None when the test does not say."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"urn:npl-marketplace:problem:{code}"
    assert body["title"] == TITLES[status]
    assert isinstance(body["detail"], str) and body["detail"]
    if with_errors is not None:
        assert ("errors" in body) is with_errors, body
    return body


def client_for(user: User) -> APIClient:
    """An API client authenticated with a real token obtained through the token endpoint."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    client.user = user
    return client


def make_package(
    seller_user: User,
    *,
    status: str = "draft",
    title: str = "Package",
    currency: str = "EUR",
    cut_off: dt.date = CUT_OFF,
    description: str = "",
) -> Package:
    """A package of ``seller_user``'s bank, created through ``package_create`` (audited).

    A ``status`` other than draft is then written directly, without a tape or a review: for
    tests of what bidding does with a package in that status. A package that went through the
    whole workflow comes from ``PackageFactory(status=...)`` or the ``listed_package`` fixture.
    """
    package = listing_services.package_create(
        actor=seller_user,
        title=title,
        currency=currency,
        cut_off_date=cut_off,
        description=description,
    )
    if status != package.status:
        Package.objects.filter(pk=package.pk).update(status=status)
        package.refresh_from_db()
    return package


def end_auction(auction: Auction) -> None:
    """Move the auction's end to now (its start before it), as if its time had run out: tests
    move time in the database, never by mocking the clock the services read."""
    now = timezone.now()
    Auction.objects.filter(pk=auction.pk).update(
        starts_at=min(auction.starts_at, now - dt.timedelta(hours=1)), ends_at=now
    )


@contextmanager
def audit_triggers_off() -> Iterator[None]:
    """Let raw SQL past the audit table's append-only triggers, then put them back."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
