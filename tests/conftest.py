"""Shared fixtures. Every test runs against the real PostgreSQL (embedded or DATABASE_URL)."""

from __future__ import annotations

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from tests.factories import PASSWORD, OrganizationFactory, UserFactory

_original_sql_flush = DatabaseOperations.sql_flush


def _sql_flush_past_audit_triggers(
    self, style, tables, *, reset_sequences=False, allow_cascade=False
):
    """Transactional tests empty every table with TRUNCATE between tests; the audit table's
    triggers refuse that (as they must). Within the flush transaction only, run as a replica so
    the triggers do not fire; this needs superuser rights, which the test database has."""
    statements = _original_sql_flush(
        self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
    )
    if statements:
        return ["SET LOCAL session_replication_role = replica", *statements]
    return statements


DatabaseOperations.sql_flush = _sql_flush_past_audit_triggers


@pytest.fixture
def api():
    """An unauthenticated API client."""
    return APIClient()


def client_for(user) -> APIClient:
    """An API client authenticated with a real token obtained through the token endpoint."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    client.user = user
    return client


@pytest.fixture
def platform_org(db):
    return OrganizationFactory(kind="platform", name="Platform", eligibility="approved")


@pytest.fixture
def admin_user(platform_org):
    return UserFactory(organization=platform_org, role="platform_admin", username="admin")


@pytest.fixture
def compliance_user(platform_org):
    return UserFactory(organization=platform_org, role="compliance_officer", username="compliance")


@pytest.fixture
def bank_org(db):
    return OrganizationFactory(kind="bank", eligibility="approved")


@pytest.fixture
def seller_user(bank_org):
    return UserFactory(organization=bank_org, role="disposal_officer")


@pytest.fixture
def buyer_org(db):
    return OrganizationFactory(kind="buyer", licence_type="national_amc", eligibility="approved")


@pytest.fixture
def bidder_user(buyer_org):
    return UserFactory(organization=buyer_org, role="bidder")


@pytest.fixture
def pending_buyer_org(db):
    return OrganizationFactory(kind="buyer", licence_type="local_amc", eligibility="pending")


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def compliance_client(compliance_user):
    return client_for(compliance_user)


@pytest.fixture
def seller_client(seller_user):
    return client_for(seller_user)


@pytest.fixture
def bidder_client(bidder_user):
    return client_for(bidder_user)


@pytest.fixture
def role_clients(admin_client, compliance_client, seller_client, bidder_client):
    return {
        "platform_admin": admin_client,
        "compliance_officer": compliance_client,
        "disposal_officer": seller_client,
        "bidder": bidder_client,
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Logins in tests hash with MD5: the default PBKDF2 costs ~0.5 s per login on 2 cores."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
