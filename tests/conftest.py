"""Shared fixtures. Every test runs against the real PostgreSQL (embedded or DATABASE_URL).

The test-support kit: users of each kind of organisation (a bank, approved buyers, the platform),
their API clients, a package with an imported tape, a listed package and an auction in each
state, all built through the services (``tests/factories.py``); assertions and builders shared
by the modules are in ``tests/support.py``.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from tests.factories import (
    AuctionFactory,
    OrganizationFactory,
    PackageFactory,
    UserFactory,
    make_bank_officer,
    make_bidder,
)
from tests.support import client_for

__all__ = ["client_for"]  # modules import it from here too

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


@pytest.fixture
def other_bank_user(db):
    """A disposal officer of a second bank."""
    return make_bank_officer()


@pytest.fixture
def other_bank_client(other_bank_user):
    return client_for(other_bank_user)


@pytest.fixture
def granted_buyer_user(db):
    """A bidder of a second approved buyer."""
    return make_bidder()


@pytest.fixture
def granted_buyer_client(granted_buyer_user):
    return client_for(granted_buyer_user)


@pytest.fixture(autouse=True)
def _fast_and_private(settings):
    """Logins in tests hash with MD5: the default PBKDF2 costs ~0.5 s per login on 2 cores. And
    each test has a cache key prefix of its own: login throttling counts per client address in
    the shared Redis, and concurrent test runs must not spend each other's allowance."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


# --------------------------------------------------------------------------- packages, auctions


@pytest.fixture
def tape_storage(settings, tmp_path):
    """Uploaded tapes go to a temporary folder (the test transaction never commits, so the
    import's clean-up after commit never runs)."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


@pytest.fixture
def package_with_tape(seller_user, tape_storage):
    """A draft of the seller's bank with five demo loans imported (tape succeeded)."""
    return PackageFactory(created_by=seller_user, loans=5)


@pytest.fixture
def listed_package(seller_user, compliance_user, tape_storage):
    """A package of the seller's bank with its tape imported, submitted and approved."""
    return PackageFactory(created_by=seller_user, status="approved")


@pytest.fixture
def auction_in_state(seller_user, compliance_user, tape_storage):
    """``auction_in_state(state, **terms)``: an auction of a new listed package of the seller's
    bank, in ``state``: scheduled, open, awarded, no_sale or cancelled (``AuctionFactory``)."""

    def make(state: str, **terms):
        package = PackageFactory(created_by=seller_user, status="approved")
        return AuctionFactory(package=package, state=state, **terms)

    return make


def _auction_fixture(state: str, doc: str):
    def auction(auction_in_state):
        return auction_in_state(state)

    auction.__doc__ = doc
    return pytest.fixture(auction, name=f"auction_{state}")


auction_scheduled = _auction_fixture("scheduled", "Starts in an hour, ends an hour later.")
auction_open = _auction_fixture("open", "Opened at once; ends in an hour; no registration yet.")
auction_awarded = _auction_fixture(
    "awarded", "Closed, awarded at the reserve to one confirmed bidder; its settlement opened."
)
auction_no_sale = _auction_fixture("no_sale", "Closed without a bid; the package back on sale.")
auction_cancelled = _auction_fixture("cancelled", "Cancelled by the seller while open.")
